package capture

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// A real packet socket on the loopback interface sees an HTTP conversation
// through the ring and the socket filter: every request paired, and no bare
// ACK handed up. Needs CAP_NET_RAW (skipped without it).
func TestSourceOnLoopback(t *testing.T) {
	src, err := openSource("lo")
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("no CAP_NET_RAW: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(lis.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "hello")
	})}
	go srv.Serve(lis)
	defer srv.Close()

	var mu sync.Mutex
	var txs []Transaction
	bareACKs := 0
	asm := newAssembler(Limits{}, func(_, server netip.AddrPort, tx Transaction) {
		if server.Port() == port { // other tests may use the loopback too
			mu.Lock()
			txs = append(txs, tx)
			mu.Unlock()
		}
	})
	var seg segment
	frame := func(b []byte, at time.Time) {
		if decodeEthernet(b, &seg) && len(seg.payload) == 0 && seg.flags&(flagSYN|flagFIN|flagRST) == 0 {
			bareACKs++
		}
		asm.frame(b, at)
	}

	const n = 20
	go func() {
		client := &http.Client{}
		for i := 0; i < n; i++ {
			path := "/items/42"
			if i%5 == 0 {
				path = "/missing"
			}
			resp, err := client.Get("http://" + lis.Addr().String() + path)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := src.read(frame); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := len(txs)
		mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(txs) != n {
		t.Fatalf("%d transactions, want %d", len(txs), n)
	}
	notFound := 0
	for _, tx := range txs {
		if tx.Status == clientErr {
			notFound++
		}
		if tx.Latency <= 0 || tx.Latency > time.Second {
			t.Errorf("latency %v from the kernel's time stamps", tx.Latency)
		}
	}
	if notFound != n/5 {
		t.Errorf("%d answers 404, want %d", notFound, n/5)
	}
	if bareACKs != 0 {
		t.Errorf("the socket filter let %d bare ACKs through", bareACKs)
	}
}
