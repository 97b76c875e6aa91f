package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/services/gateway/api"
)

// A body started and never finished is answered 408 once BodyTimeout has
// passed, and its connection closed; the gateway serves others meanwhile, and
// the backend never sees the request.
func TestSlowBodyIsCutOff(t *testing.T) {
	fake := &fakeMembership{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := api.New(ctx, api.Config{MembershipEndpoint: backend(t, fake), BodyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"member":{"service":"web","id":"a","address":"10.0.0.1","port":80},"ttl":"30s"}`
	fmt.Fprintf(conn, "POST /v1/members HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	began := time.Now()

	// Another client is served while the slow one hangs.
	if resp, b := do(t, "GET", srv.URL+"/healthz", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz during a slow body: %d %s", resp.StatusCode, b)
	}

	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the slow body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	waited := time.Since(began)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "not received within") {
		t.Fatalf("slow body: %d %s, want 408", resp.StatusCode, b)
	}
	if waited < 250*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("answered after %v, want about the 300ms BodyTimeout", waited)
	}
	if _, err := conn.Write([]byte(body[10:])); err == nil {
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatal("the slow client's connection is still open")
		}
	}
	fake.mu.Lock()
	seen := len(fake.registers)
	fake.mu.Unlock()
	if seen != 0 {
		t.Fatalf("the backend saw %d registers, want none", seen)
	}
	// A body sent in time still goes through.
	if resp, b := do(t, "POST", srv.URL+"/v1/members", body, "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a normal register after: %d %s", resp.StatusCode, b)
	}
}
