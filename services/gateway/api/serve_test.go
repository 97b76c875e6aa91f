package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// slowClient sends a request whose body (Content-Length 100) stops after 10
// bytes, and returns the answer and how long it took.
func slowClient(t *testing.T, addr, path string) (*http.Response, string, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", path)
	began := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: no answer to a body that never ends: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	took := time.Since(began)
	if _, err := br.ReadByte(); err == nil {
		t.Errorf("%s: the connection stays open after the answer", path)
	}
	return resp, string(b), took
}

// A body that never ends is cut off after the deadline, whether the handler
// reads it (408 under /v1/) or answers without reading it (a 401: net/http
// reads the rest first); a body read to its end lifts the deadline, so a long
// answer is not cancelled and the next request on the connection is served.
func TestBodyDeadline(t *testing.T) {
	const d = 300 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); errors.Is(err, os.ErrDeadlineExceeded) {
			http.Error(w, "too slow", http.StatusRequestTimeout)
			return
		}
		// A long answer, three times the deadline, that stops if the
		// request is cancelled (as a stream's backend call would be).
		for i := range 6 {
			if r.Context().Err() != nil {
				return
			}
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(d / 2)
		}
	})
	mux.HandleFunc("/unread", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no token", http.StatusUnauthorized)
	})
	srv := httptest.NewServer(bodyDeadline(mux, d))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	for path, want := range map[string]int{"/read": http.StatusRequestTimeout, "/unread": http.StatusUnauthorized} {
		resp, _, took := slowClient(t, addr, path)
		if resp.StatusCode != want || took < d*8/10 || took > 5*time.Second {
			t.Errorf("%s: %d after %v, want %d after about %v", path, resp.StatusCode, took, want, d)
		}
	}

	// A whole body, a long answer, then another request on the connection.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	for i := range 2 {
		resp, err := client.Post(srv.URL+"/read", "text/plain", strings.NewReader("whole body"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "part 5") {
			t.Fatalf("request %d: %d %q %v, want the whole answer", i, resp.StatusCode, b, err)
		}
	}
}
