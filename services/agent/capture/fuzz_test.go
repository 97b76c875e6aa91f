package capture

import (
	"net/netip"
	"testing"
	"time"
)

// fuzzDecoder feeds data to a decoder as alternating client and server
// pieces cut at the given sizes: it must not panic, and must keep its memory
// within bounds whatever the bytes.
func fuzzDecoder(f *testing.F, newDec func(func(Transaction)) decoder, bufs func(decoder) []*stream, seeds ...[2]string) {
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]), uint8(7))
	}
	f.Fuzz(func(t *testing.T, client, server []byte, cut uint8) {
		d := newDec(func(Transaction) {})
		size := int(cut%64) + 1
		now := t0
		for len(client) > 0 || len(server) > 0 {
			n := min(size, len(client))
			_ = d.client(client[:n], now)
			client = client[n:]
			m := min(size, len(server))
			_ = d.server(server[:m], now)
			server = server[m:]
			now = now.Add(time.Microsecond)
			for _, s := range bufs(d) {
				if len(s.buf) > maxBuffered {
					t.Fatalf("buffered %d bytes", len(s.buf))
				}
			}
		}
		d.gap(true)
		d.gap(false)
		d.close(now)
	})
}

func FuzzHTTP(f *testing.F) {
	fuzzDecoder(f, newHTTPDec, func(d decoder) []*stream { h := d.(*httpDecoder); return []*stream{&h.req, &h.rsp} },
		[2]string{"GET /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		[2]string{"HEAD / HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\nbody until close"},
	)
}

func FuzzRedis(f *testing.F) {
	fuzzDecoder(f, newRedisDec, func(d decoder) []*stream { r := d.(*redisDecoder); return []*stream{&r.req, &r.rsp} },
		[2]string{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\nINFO\r\n", "$3\r\nabc\r\n-ERR x\r\n*2\r\n%1\r\n+a\r\n:1\r\n|1\r\n+k\r\n+v\r\n_\r\n"},
	)
}

func FuzzPostgres(f *testing.F) {
	fuzzDecoder(f, newPostgresDec, func(d decoder) []*stream { p := d.(*postgresDecoder); return []*stream{&p.req, &p.rsp} },
		[2]string{pgStartup(pgSSLRequest, "") + pgStartup(pgProtocol3, "user\x00u\x00\x00") + pg('Q', "SELECT 1\x00") +
			pg('P', "s\x00INSERT x\x00\x00\x00") + pg('B', "\x00s\x00\x00\x00\x00\x00\x00\x00") + pg('E', "\x00\x00\x00\x00\x00") + pg('S', ""),
			"N" + pg('R', "\x00\x00\x00\x00") + pg('Z', "I") + pg('C', "SELECT 1\x00") + pg('Z', "I") + pg('E', "SERROR\x00\x00") + pg('Z', "I")},
	)
}

// FuzzAssembler feeds arbitrary frames (cut from the input) to the
// reassembler: no panic, and buffered bytes stay within the limit.
func FuzzAssembler(f *testing.F) {
	f.Add(append(append(frame(cli, srv, 0, flagSYN, ""), frame(cli, srv, 1, flagACK, "GET / HTTP/1.1\r\n\r\n")...),
		frame(srv, cli, 1, flagACK, "HTTP/1.1 200 OK\r\n\r\n")...), uint8(54))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		a := newAssembler(Limits{MaxConnections: 16, MaxBuffered: 4096}, func(_, _ netip.AddrPort, _ Transaction) {})
		size := int(cut) + 14
		now := t0
		for len(data) > 0 {
			n := min(size, len(data))
			a.frame(data[:n], now)
			data = data[n:]
			now = now.Add(300 * time.Millisecond)
			a.sweep(now)
			if a.buffered > 4096 || a.buffered < 0 {
				t.Fatalf("buffered %d", a.buffered)
			}
		}
	})
}
