package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// frame builds an Ethernet/IPv4/TCP frame.
func frame(src, dst netip.AddrPort, seq uint32, flags uint8, payload string) []byte {
	b := make([]byte, 14+20+20+len(payload))
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	ip[8], ip[9] = 64, 6
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12] = 5 << 4
	tcp[13] = flags
	copy(tcp[20:], payload)
	return b
}

var (
	cli = netip.MustParseAddrPort("172.18.0.3:40000")
	srv = netip.MustParseAddrPort("172.18.0.4:8080")
)

type recorder struct {
	txs            []Transaction
	client, server netip.AddrPort
}

func (r *recorder) emit(c, s netip.AddrPort, tx Transaction) {
	r.txs = append(r.txs, tx)
	r.client, r.server = c, s
}

func TestReassemblyInOrderOutOfOrderAndRetransmitted(t *testing.T) {
	r := &recorder{}
	a := newAssembler(Limits{}, r.emit)
	req := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	rsp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	at := t0
	step := func(b []byte) { a.frame(b, at); at = at.Add(time.Millisecond) }
	step(frame(cli, srv, 1000, flagSYN, ""))
	step(frame(srv, cli, 5000, flagSYN|flagACK, ""))
	step(frame(cli, srv, 1001, flagACK, ""))
	// The request's second half arrives first, then the first half, then a
	// retransmission of the first half.
	step(frame(cli, srv, 1001+10, flagACK, req[10:]))
	step(frame(cli, srv, 1001, flagACK, req[:10]))
	step(frame(cli, srv, 1001, flagACK, req[:10]))
	step(frame(srv, cli, 5001, flagACK, rsp))
	// A second request overlapping a retransmitted tail.
	req2 := "GET /b HTTP/1.1\r\n\r\n"
	next := uint32(1001 + len(req))
	step(frame(cli, srv, next-4, flagACK, req[len(req)-4:]+req2))
	step(frame(srv, cli, 5001+uint32(len(rsp)), flagACK|flagFIN, "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n"))
	if len(r.txs) != 2 || r.txs[0].Operation != "GET /a" || r.txs[1].Operation != "GET /b" || r.txs[1].Status != serverErr {
		t.Fatalf("transactions = %+v", r.txs)
	}
	if r.client != cli || r.server != srv {
		t.Fatalf("client %v server %v", r.client, r.server)
	}
	if r.txs[0].Latency != 2*time.Millisecond {
		t.Fatalf("latency from the first request byte: %v", r.txs[0].Latency)
	}
	if len(a.conns) != 0 || a.buffered != 0 {
		t.Fatalf("after FIN: %d conns, %d buffered", len(a.conns), a.buffered)
	}
}

// A connection seen from its middle is oriented by its first request; a
// response seen first is dropped with the request it answered.
func TestReassemblyMidStream(t *testing.T) {
	r := &recorder{}
	a := newAssembler(Limits{}, r.emit)
	a.frame(frame(srv, cli, 9000, flagACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), t0)
	a.frame(frame(cli, srv, 100, flagACK, "GET /x HTTP/1.1\r\n\r\n"), t0)
	a.frame(frame(srv, cli, 9000+38, flagACK, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), t0.Add(time.Millisecond))
	if len(r.txs) != 1 || r.txs[0].Operation != "GET /x" || r.txs[0].Status != clientErr || r.client != cli {
		t.Fatalf("transactions = %+v (client %v)", r.txs, r.client)
	}
}

// Bytes the capture missed are skipped after a while; the decoder picks up
// at the next request, and requests lost with them are not invented.
func TestReassemblyGap(t *testing.T) {
	r := &recorder{}
	a := newAssembler(Limits{}, r.emit)
	a.frame(frame(cli, srv, 0, flagSYN, ""), t0)
	a.frame(frame(srv, cli, 0, flagSYN|flagACK, ""), t0)
	a.frame(frame(cli, srv, 1, flagACK, "GET /a HTTP/1.1\r\n\r\n"), t0)
	a.frame(frame(srv, cli, 1, flagACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), t0)
	// 100 client bytes never captured, then a request.
	a.frame(frame(cli, srv, 1+19+100, flagACK, "GET /b HTTP/1.1\r\n\r\n"), t0)
	if len(a.conns[keyOf(cli, srv)].halves[0].ooo) != 1 {
		t.Fatal("segment after the gap not held")
	}
	a.sweep(t0.Add(2 * time.Second))
	a.frame(frame(srv, cli, 1+38, flagACK, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), t0.Add(2*time.Second))
	if a.c.Gaps != 1 || len(r.txs) != 2 || r.txs[1].Operation != "GET /b" {
		t.Fatalf("gaps %d, transactions %+v", a.c.Gaps, r.txs)
	}
}

func TestReassemblyLimits(t *testing.T) {
	a := newAssembler(Limits{MaxConnections: 2, MaxBuffered: 100}, (&recorder{}).emit)
	for i := 0; i < 5; i++ {
		c := netip.AddrPortFrom(cli.Addr(), uint16(50000+i))
		a.frame(frame(c, srv, 0, flagSYN, ""), t0)
	}
	if len(a.conns) != 2 || a.c.DroppedConnections != 3 {
		t.Fatalf("conns %d dropped %d", len(a.conns), a.c.DroppedConnections)
	}
	// Out-of-order data beyond the budget is not held.
	a.frame(frame(srv, cli, 0, flagSYN|flagACK, ""), t0)
	c := netip.AddrPortFrom(cli.Addr(), 50000)
	a.frame(frame(c, srv, 1000, flagACK, string(make([]byte, 80))), t0)
	a.frame(frame(c, srv, 2000, flagACK, string(make([]byte, 80))), t0)
	if a.buffered > 100 {
		t.Fatalf("buffered %d > 100", a.buffered)
	}
	// Idle connections are forgotten.
	a.sweep(t0.Add(DefaultIdleTimeout + time.Second))
	if len(a.conns) != 0 || a.buffered != 0 {
		t.Fatalf("after idle: %d conns, %d buffered", len(a.conns), a.buffered)
	}
}

// Traffic of no known protocol (gRPC over HTTP/2 here) is ignored.
func TestReassemblyIgnoresOtherProtocols(t *testing.T) {
	r := &recorder{}
	a := newAssembler(Limits{}, r.emit)
	a.frame(frame(cli, srv, 0, flagSYN, ""), t0)
	a.frame(frame(cli, srv, 1, flagACK, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), t0)
	a.frame(frame(cli, srv, 25, flagACK, "GET / HTTP/1.1\r\n\r\n"), t0)
	a.frame(frame(srv, cli, 1, flagACK, "HTTP/1.1 200 OK\r\n\r\n"), t0)
	if len(r.txs) != 0 || !a.conns[keyOf(cli, srv)].ignored {
		t.Fatalf("transactions %+v", r.txs)
	}
}
