package capture

import (
	"strings"
	"testing"
	"time"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

const (
	okStatus  = topologyv1.StatusClass_STATUS_CLASS_OK
	clientErr = topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR
	serverErr = topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR
)

var t0 = time.Unix(1_700_000_000, 0)

// conversation feeds a decoder the exchanges in order, each direction split
// into pieces of at most chunk bytes (1 exercises every resumption point), a
// millisecond apart.
type exchange struct {
	client bool
	data   string
}

func run(t *testing.T, newDec func(func(Transaction)) decoder, chunk int, xs []exchange) []Transaction {
	t.Helper()
	var got []Transaction
	d := newDec(func(tx Transaction) { got = append(got, tx) })
	now := t0
	for _, x := range xs {
		for b := []byte(x.data); len(b) > 0; {
			n := min(chunk, len(b))
			var err error
			if x.client {
				err = d.client(b[:n], now)
			} else {
				err = d.server(b[:n], now)
			}
			if err != nil {
				t.Fatalf("decode %q: %v", x.data, err)
			}
			b = b[n:]
		}
		now = now.Add(time.Millisecond)
	}
	d.close(now)
	return got
}

type want struct {
	op      string
	status  topologyv1.StatusClass
	latency time.Duration
}

func check(t *testing.T, got []Transaction, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d transactions, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Operation != w.op || g.Status != w.status || w.latency != 0 && g.Latency != w.latency {
			t.Errorf("#%d = %s %v %v, want %s %v %v", i, g.Operation, g.Status, g.Latency, w.op, w.status, w.latency)
		}
	}
}

func eachChunking(t *testing.T, f func(t *testing.T, chunk int)) {
	for _, chunk := range []int{1, 3, 7, 64, 1 << 20} {
		t.Run(strings.Repeat("c", 0)+itoa(chunk), func(t *testing.T) { f(t, chunk) })
	}
}

func itoa(n int) string {
	if n >= 1<<20 {
		return "whole"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func newHTTPDec(emit func(Transaction)) decoder { return newHTTP(emit) }

func TestHTTP(t *testing.T) {
	eachChunking(t, func(t *testing.T, chunk int) {
		got := run(t, newHTTPDec, chunk, []exchange{
			{true, "GET /users/42?x=1 HTTP/1.1\r\nHost: api\r\n\r\n"},
			{false, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
			{true, "POST /orders HTTP/1.1\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":\"b\"}\r\n"},
			{false, "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nboom\r\n0\r\nX-Trailer: y\r\n\r\n"},
			// Pipelined, with a HEAD whose response carries a length but no body.
			{true, "HEAD /items/7 HTTP/1.1\r\n\r\nDELETE /items/3f2b9c1e-7a1d-4b8e-9c2f-1a2b3c4d5e6f HTTP/1.1\r\n\r\n"},
			{false, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
			{true, "PUT /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"},
			{false, "HTTP/1.1 100 Continue\r\n\r\n"},
			{true, "abc"},
			{false, "HTTP/1.1 204 No Content\r\n\r\n"},
			// Never answered: the connection closes first.
			{true, "GET /slow HTTP/1.1\r\n\r\n"},
		})
		check(t, got, []want{
			{"GET /users/{id}", okStatus, time.Millisecond},
			{"POST /orders", serverErr, time.Millisecond},
			{"HEAD /items/{id}", okStatus, time.Millisecond},
			{"DELETE /items/{id}", clientErr, time.Millisecond},
			{"PUT /upload", okStatus, 3 * time.Millisecond},
			{"GET /slow", serverErr, time.Millisecond},
		})
	})
}

func TestHTTPBodyUntilClose(t *testing.T) {
	got := run(t, newHTTPDec, 1<<20, []exchange{
		{true, "GET / HTTP/1.0\r\n\r\n"},
		{false, "HTTP/1.0 200 OK\r\n\r\n<html>...GET /not-a-request HTTP/1.1\r\n\r\n"},
	})
	check(t, got, []want{{"GET /", okStatus, time.Millisecond}})
}

func TestHTTPUpgradeStops(t *testing.T) {
	var got []Transaction
	d := newHTTP(func(tx Transaction) { got = append(got, tx) })
	_ = d.client([]byte("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), t0)
	if err := d.server([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"), t0.Add(time.Millisecond)); err != errDone {
		t.Fatalf("after 101: %v", err)
	}
	check(t, got, []want{{"GET /ws", okStatus, time.Millisecond}})
}

func TestHTTPGarbageResynchronises(t *testing.T) {
	var got []Transaction
	d := newHTTP(func(tx Transaction) { got = append(got, tx) })
	if err := d.client([]byte("\x16\x03\x01\x02\x00garbage that is not http"), t0); err != errProtocol {
		t.Fatalf("garbage: %v", err)
	}
	_ = d.client([]byte("GET /again HTTP/1.1\r\n\r\n"), t0)
	_ = d.server([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), t0)
	check(t, got, []want{{"GET /again", okStatus, 0}})
}

func newRedisDec(emit func(Transaction)) decoder { return newRedis(emit) }

func TestRedis(t *testing.T) {
	big := strings.Repeat("v", 100_000)
	eachChunking(t, func(t *testing.T, chunk int) {
		got := run(t, newRedisDec, chunk, []exchange{
			{true, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$100000\r\n" + big + "\r\n"},
			{false, "+OK\r\n"},
			{true, "*2\r\n$3\r\nget\r\n$3\r\nkey\r\n"},
			{false, "$100000\r\n" + big + "\r\n"},
			{true, "*2\r\n$4\r\nINCR\r\n$3\r\nkey\r\n"},
			{false, "-ERR value is not an integer or out of range\r\n"},
			// Pipelined: a nested array (with an error inside: not a failed
			// command), a RESP3 map, a null.
			{true, "*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n*1\r\n$5\r\nHELLO\r\n*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n"},
			{false, "*3\r\n$1\r\na\r\n*2\r\n:1\r\n-ERR inner\r\n$-1\r\n%1\r\n+server\r\n+redis\r\n_\r\n"},
			{true, "PING\r\n"},
			{false, "+PONG\r\n"},
			{true, "*1\r\n$4\r\nPING\r\n"},
		})
		check(t, got, []want{
			{"SET", okStatus, time.Millisecond},
			{"GET", okStatus, time.Millisecond},
			{"INCR", serverErr, time.Millisecond},
			{"LRANGE", okStatus, time.Millisecond},
			{"HELLO", okStatus, time.Millisecond},
			{"GET", okStatus, time.Millisecond},
			{"PING", okStatus, time.Millisecond},
			{"PING", serverErr, time.Millisecond}, // unanswered at close
		})
	})
}

func newPostgresDec(emit func(Transaction)) decoder { return newPostgres(emit, true) }

// pg builds a typed PostgreSQL message.
func pg(typ byte, body string) string {
	n := len(body) + 4
	return string([]byte{typ, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + body
}

func pgStartup(code uint32, body string) string {
	n := len(body) + 8
	return string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), byte(code >> 24), byte(code >> 16), byte(code >> 8), byte(code)}) + body
}

func TestPostgres(t *testing.T) {
	ready := pg('Z', "I")
	bigRow := pg('D', "\x00\x01\x00\x01\x00\x00"+strings.Repeat("x", 50_000))
	eachChunking(t, func(t *testing.T, chunk int) {
		got := run(t, newPostgresDec, chunk, []exchange{
			{true, pgStartup(pgSSLRequest, "")},
			{false, "N"},
			{true, pgStartup(pgProtocol3, "user\x00demo\x00database\x00demo\x00\x00")},
			{false, pg('R', "\x00\x00\x00\x00") + pg('S', "server_version\x0016\x00") + pg('K', "12345678") + ready},
			// Simple query.
			{true, pg('Q', "/* app */ select id from items where id = 1\x00")},
			{false, pg('T', "\x00\x01id\x00....") + bigRow + pg('C', "SELECT 1\x00") + ready},
			// Simple query failing.
			{true, pg('Q', "SELECT 1/0\x00")},
			{false, pg('E', "SERROR\x00C22012\x00Mdivision by zero\x00\x00") + ready},
			// Extended: prepare a named statement (its own Sync), then execute it.
			{true, pg('P', "s1\x00INSERT INTO hits VALUES ($1)\x00\x00\x00") + pg('D', "Ss1\x00") + pg('S', "")},
			{false, pg('1', "") + pg('t', "\x00\x00") + pg('n', "") + ready},
			{true, pg('B', "\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x011\x00\x00") + pg('E', "\x00\x00\x00\x00\x00") + pg('S', "")},
			{false, pg('2', "") + pg('C', "INSERT 0 1\x00") + ready},
			// Extended, unnamed, failing.
			{true, pg('P', "\x00UPDATE nope SET x = 1\x00\x00\x00") + pg('B', "\x00\x00\x00\x00\x00\x00\x00\x00") + pg('E', "\x00\x00\x00\x00\x00") + pg('S', "")},
			{false, pg('E', "SERROR\x00C42P01\x00Mrelation \"nope\" does not exist\x00\x00") + ready},
			{true, pg('X', "")},
		})
		check(t, got, []want{
			{"SELECT", okStatus, time.Millisecond},
			{"SELECT", serverErr, time.Millisecond},
			{"INSERT", okStatus, time.Millisecond},
			{"INSERT", okStatus, time.Millisecond},
			{"UPDATE", serverErr, time.Millisecond},
		})
	})
}

func TestPostgresTLSStops(t *testing.T) {
	d := newPostgres(func(Transaction) {}, true)
	_ = d.client([]byte(pgStartup(pgSSLRequest, "")), t0)
	if err := d.server([]byte("S\x16\x03\x03"), t0); err != errDone {
		t.Fatalf("after S: %v", err)
	}
}

func TestSQLOperation(t *testing.T) {
	for q, want := range map[string]string{
		"select 1":                 "SELECT",
		"  (SELECT 1)":             "SELECT",
		"-- note\nWITH x AS (...)": "WITH",
		"/* a */ /* b */ delete":   "DELETE",
		"123":                      "QUERY",
	} {
		if got := sqlOperation([]byte(q)); got != want {
			t.Errorf("%q: %s, want %s", q, got, want)
		}
	}
}
