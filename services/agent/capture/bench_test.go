package capture

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// conversationFrames builds the frames of conns keep-alive connections, each
// carrying rounds request/response exchanges of the given protocol payloads.
func conversationFrames(conns, rounds int, server netip.AddrPort, req, rsp string) [][]byte {
	var frames [][]byte
	for c := 0; c < conns; c++ {
		client := netip.AddrPortFrom(netip.MustParseAddr("172.18.0.3"), uint16(30000+c))
		cseq, sseq := uint32(1000), uint32(9000)
		frames = append(frames, frame(client, server, cseq-1, flagSYN, ""), frame(server, client, sseq-1, flagSYN|flagACK, ""))
		for r := 0; r < rounds; r++ {
			frames = append(frames, frame(client, server, cseq, flagACK, req))
			cseq += uint32(len(req))
			frames = append(frames, frame(server, client, sseq, flagACK, rsp))
			sseq += uint32(len(rsp))
			frames = append(frames, frame(client, server, cseq, flagACK, "")) // the bare ACK
		}
	}
	return frames
}

// BenchmarkCaptureDecode measures reassembly, decoding and flow aggregation of
// a mix of HTTP, Redis and PostgreSQL traffic on one goroutine (one core):
// what one interface's reader does per frame after the read system call.
func BenchmarkCaptureDecode(b *testing.B) {
	api := netip.MustParseAddrPort("172.18.0.4:8080")
	redis := netip.MustParseAddrPort("172.18.0.5:6379")
	postgres := netip.MustParseAddrPort("172.18.0.6:5432")
	var frames [][]byte
	frames = append(frames, conversationFrames(8, 200, api,
		"GET /items/12345?full=1 HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sun, 22 Nov 2026 06:00:00 GMT\r\nContent-Length: 48\r\n\r\n{\"id\":12345,\"name\":\"item 12345\",\"stock\":42,\"x\":1}")...)
	frames = append(frames, conversationFrames(8, 200, redis,
		"*2\r\n$3\r\nGET\r\n$10\r\nitem:12345\r\n", "$16\r\n{\"views\":123456}\r\n")...)
	frames = append(frames, conversationFrames(8, 200, postgres,
		pg('B', "\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x0512345\x00\x00")+pg('E', "\x00\x00\x00\x00\x00")+pg('S', ""),
		pg('2', "")+pg('D', "\x00\x02\x00\x00\x00\x0512345\x00\x00\x00\x0aitem 12345")+pg('C', "SELECT 1\x00")+pg('Z', "I"))...)
	var bytes int64
	for _, f := range frames {
		bytes += int64(len(f))
	}
	m, _ := NewMetrics(nil)
	rep := NewReporter(nil, staticResolver{}, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	var packets, requests uint64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		a := newAssembler(Limits{}, rep.Add)
		now := t0.Add(time.Duration(i) * time.Second)
		for _, f := range frames {
			a.frame(f, now)
		}
		packets += a.c.Packets
		requests += a.c.Transactions
		if i%16 == 15 {
			rep.takeFlows() // what a flush does, without the network
		}
	}
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(packets)/elapsed, "packets/s")
	b.ReportMetric(float64(requests)/elapsed, "requests/s")
}
