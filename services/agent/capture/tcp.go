package capture

import (
	"errors"
	"net/netip"
	"time"
)

// Limits of the reassembler; zero values in Limits take these.
const (
	DefaultMaxConnections = 65536
	DefaultMaxBuffered    = 64 << 20
	DefaultIdleTimeout    = 5 * time.Minute
	maxOutOfOrderPerConn  = 256 << 10
	outOfOrderWait        = time.Second
	maxDetectAttempts     = 4
)

// Limits bound the memory of one reassembler.
type Limits struct {
	// MaxConnections tracked at once; segments of further ones are dropped.
	MaxConnections int
	// MaxBuffered bytes held out of order over all connections; past it, a
	// connection skips its gap instead of waiting for the missing bytes.
	MaxBuffered int64
	// IdleTimeout forgets a connection without packets for that long.
	IdleTimeout time.Duration
}

func (l *Limits) defaults() {
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxBuffered <= 0 {
		l.MaxBuffered = DefaultMaxBuffered
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
}

type connKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) connKey {
	if x.Compare(y) < 0 {
		return connKey{x, y}
	}
	return connKey{y, x}
}

type oooSegment struct {
	seq  uint32
	data []byte
	fin  bool
	at   time.Time
}

// half is one direction of a connection.
type half struct {
	next   uint32 // the sequence number expected next
	synced bool
	ooo    []oooSegment // ahead of next, sorted by seq
	bytes  int
}

type conn struct {
	client, server netip.AddrPort
	known          bool // which side is the client
	halves         [2]half
	dec            decoder
	ignored        bool
	attempts       int
	lastSeen       time.Time
}

// Counters the reassembler keeps (read by metrics, one reassembler per
// interface goroutine: no locking).
type Counters struct {
	Packets, Segments  uint64
	Connections        uint64
	DroppedConnections uint64 // MaxConnections reached
	Gaps               uint64 // bytes lost (capture drops, buffer limits)
	DecodeErrors       uint64
	Transactions       uint64
}

// assembler follows the TCP connections of one interface, puts each
// direction's bytes in order, and feeds them to the connection's decoder.
type assembler struct {
	limits   Limits
	conns    map[connKey]*conn
	buffered int64
	emit     func(client, server netip.AddrPort, tx Transaction)
	c        Counters
	seg      segment
}

func newAssembler(l Limits, emit func(client, server netip.AddrPort, tx Transaction)) *assembler {
	l.defaults()
	return &assembler{limits: l, conns: map[connKey]*conn{}, emit: emit}
}

// frame handles one captured Ethernet frame.
func (a *assembler) frame(b []byte, t time.Time) {
	a.c.Packets++
	if !decodeEthernet(b, &a.seg) {
		return
	}
	a.c.Segments++
	a.segment(&a.seg, t)
}

func (a *assembler) segment(s *segment, t time.Time) {
	key := keyOf(s.src, s.dst)
	c := a.conns[key]
	if c == nil {
		if s.flags&(flagRST|flagFIN) != 0 || s.flags&flagSYN == 0 && len(s.payload) == 0 {
			return
		}
		if len(a.conns) >= a.limits.MaxConnections {
			a.c.DroppedConnections++
			return
		}
		c = &conn{}
		a.conns[key] = c
		a.c.Connections++
	}
	c.lastSeen = t
	if c.ignored {
		if s.flags&(flagRST|flagFIN) != 0 {
			a.drop(key, c)
		}
		return
	}
	if s.flags&flagSYN != 0 {
		a.syn(c, s)
		return
	}
	if !c.known {
		if s.flags&(flagRST|flagFIN) != 0 {
			a.drop(key, c)
			return
		}
		if !a.orient(c, s) {
			return
		}
	}
	dir := 0
	if s.src != c.client {
		dir = 1
	}
	h := &c.halves[dir]
	if !h.synced {
		h.next, h.synced = s.seq, true
	}
	if s.flags&flagRST != 0 {
		a.finish(key, c, t)
		return
	}
	a.deliver(key, c, dir, s.seq, s.payload, s.flags&flagFIN != 0, t)
}

// syn learns the direction (and where each direction's bytes start) from the
// handshake.
func (a *assembler) syn(c *conn, s *segment) {
	if s.flags&flagACK == 0 {
		c.client, c.server, c.known = s.src, s.dst, true
		c.halves[0] = half{next: s.seq + 1, synced: true}
		return
	}
	if !c.known {
		c.client, c.server, c.known = s.dst, s.src, true
	}
	c.halves[1] = half{next: s.seq + 1, synced: true}
}

// orient guesses who the client is on a connection seen from its middle,
// from the first payload: a request names its sender the client; a response
// its receiver (that response is dropped: its request was not seen).
func (a *assembler) orient(c *conn, s *segment) bool {
	switch {
	case detect(s.payload) != nil:
		c.client, c.server, c.known = s.src, s.dst, true
		return true
	case isHTTPResponse(s.payload):
		c.client, c.server, c.known = s.dst, s.src, true
		c.halves[1] = half{next: s.seq + uint32(len(s.payload)), synced: true}
		return false
	}
	if c.attempts++; c.attempts >= maxDetectAttempts {
		c.ignored = true
	}
	return false
}

// deliver puts a segment's bytes in order: now if it is next, later if it is
// ahead (bounded), trimmed if it overlaps what was delivered.
func (a *assembler) deliver(key connKey, c *conn, dir int, seq uint32, data []byte, fin bool, t time.Time) {
	h := &c.halves[dir]
	if d := int32(seq - h.next); d > 0 {
		if len(data) == 0 && !fin {
			return // a bare ACK ahead of a gap
		}
		if h.bytes+len(data) <= maxOutOfOrderPerConn && a.buffered+int64(len(data)) <= a.limits.MaxBuffered {
			h.insert(oooSegment{seq: seq, data: append([]byte(nil), data...), fin: fin, at: t})
			a.buffered += int64(len(data))
			return
		}
		// No room to wait for the missing bytes: skip them, delivering what
		// was buffered first, then try this segment again.
		a.skipGap(c, dir)
		if len(h.ooo) > 0 && int32(h.ooo[0].seq-seq) < 0 {
			h.next = h.ooo[0].seq
			a.drain(key, c, dir, t)
			if a.conns[key] == c && !c.ignored {
				a.deliver(key, c, dir, seq, data, fin, t)
			}
			return
		}
		h.next = seq
	} else if d < 0 {
		over := int(-d)
		if over >= len(data) {
			return // a retransmission of what was delivered
		}
		data = data[over:]
		seq = h.next
	}
	if !a.consume(c, dir, data, t) {
		return
	}
	h.next = seq + uint32(len(data))
	if fin {
		a.finish(key, c, t)
		return
	}
	a.drain(key, c, dir, t)
}

// drain delivers buffered segments that the stream has caught up with.
func (a *assembler) drain(key connKey, c *conn, dir int, t time.Time) {
	h := &c.halves[dir]
	for len(h.ooo) > 0 && int32(h.ooo[0].seq-h.next) <= 0 {
		o := h.ooo[0]
		h.ooo = h.ooo[1:]
		h.bytes -= len(o.data)
		a.buffered -= int64(len(o.data))
		a.deliver(key, c, dir, o.seq, o.data, o.fin, t)
		if a.conns[key] != c {
			return
		}
	}
}

// skipGap gives up on missing bytes before the first buffered segment of dir.
func (a *assembler) skipGap(c *conn, dir int) {
	a.c.Gaps++
	if c.dec != nil {
		c.dec.gap(dir == 0)
	}
}

func (h *half) insert(o oooSegment) {
	i := len(h.ooo)
	for i > 0 && int32(h.ooo[i-1].seq-o.seq) > 0 {
		i--
	}
	h.ooo = append(h.ooo, oooSegment{})
	copy(h.ooo[i+1:], h.ooo[i:])
	h.ooo[i] = o
	h.bytes += len(o.data)
}

// consume hands in-order bytes to the decoder, choosing it from the first
// client bytes. It returns false when the connection was dropped.
func (a *assembler) consume(c *conn, dir int, data []byte, t time.Time) bool {
	if len(data) == 0 {
		return true
	}
	if c.dec == nil {
		if dir == 1 {
			return true // servers of our protocols speak second
		}
		newDec := detect(data)
		if newDec == nil {
			c.ignored = true
			a.release(c)
			return false
		}
		client, server := c.client, c.server
		c.dec = newDec(func(tx Transaction) {
			a.c.Transactions++
			a.emit(client, server, tx)
		})
	}
	var err error
	if dir == 0 {
		err = c.dec.client(data, t)
	} else {
		err = c.dec.server(data, t)
	}
	switch {
	case errors.Is(err, errDone):
		c.dec.close(t)
		c.ignored = true
		a.release(c)
		return false
	case err != nil:
		a.c.DecodeErrors++
	}
	return true
}

// finish ends a connection (FIN or RST): what it still waited for failed.
func (a *assembler) finish(key connKey, c *conn, t time.Time) {
	if c.dec != nil {
		c.dec.close(t)
	}
	a.drop(key, c)
}

func (a *assembler) drop(key connKey, c *conn) {
	a.release(c)
	delete(a.conns, key)
}

// release frees a connection's buffered segments.
func (a *assembler) release(c *conn) {
	for i := range c.halves {
		a.buffered -= int64(c.halves[i].bytes)
		c.halves[i].ooo, c.halves[i].bytes = nil, 0
	}
}

// sweep forgets idle connections and skips gaps that waited too long: a
// segment the capture missed is never retransmitted (its receiver got it).
func (a *assembler) sweep(now time.Time) {
	for key, c := range a.conns {
		if now.Sub(c.lastSeen) > a.limits.IdleTimeout {
			a.drop(key, c)
			continue
		}
		for dir := range c.halves {
			h := &c.halves[dir]
			if len(h.ooo) > 0 && now.Sub(h.ooo[0].at) > outOfOrderWait {
				a.skipGap(c, dir)
				h.next = h.ooo[0].seq
				a.drain(key, c, dir, now)
				if a.conns[key] != c {
					break
				}
			}
		}
	}
}

// detect picks the decoder for a connection from its first client bytes.
func detect(b []byte) func(emit func(Transaction)) decoder {
	switch {
	case isHTTPRequest(b):
		return func(emit func(Transaction)) decoder { return newHTTP(emit) }
	case isRedisCommand(b):
		return func(emit func(Transaction)) decoder { return newRedis(emit) }
	case isPostgresStartup(b):
		return func(emit func(Transaction)) decoder { return newPostgres(emit, true) }
	case isPostgresQuery(b):
		return func(emit func(Transaction)) decoder { return newPostgres(emit, false) }
	}
	return nil
}
