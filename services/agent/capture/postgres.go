package capture

import (
	"bytes"
	"encoding/binary"
	"time"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// postgresDecoder pairs PostgreSQL (protocol 3) requests with their answers.
// A request is a simple Query ('Q'), or an extended-query batch (Parse, Bind,
// Describe, Execute...) ended by Sync ('S'); each is answered by
// ReadyForQuery ('Z'), in order. An ErrorResponse ('E') before it fails the
// request. The operation is the statement's first keyword (SELECT, INSERT...);
// prepared statements are remembered by name so a Bind of one names it too.
type postgresDecoder struct {
	emit     func(Transaction)
	req, rsp stream
	queue    queue

	startup   bool // the next client message has no type byte
	sslAnswer bool // the next server byte answers SSLRequest/GSSENCRequest

	batch      *pending          // extended-query messages since the last Sync
	statements map[string]string // prepared statement name → operation
}

// Protocol codes in a startup-phase message's second word.
const (
	pgProtocol3  = 196608
	pgSSLRequest = 80877103
	pgGSSENC     = 80877104
	pgCancel     = 80877102
	maxStmts     = 256
	pgHeadLimit  = 64 // bytes of a large message read for its operation
	pgMaxMessage = 1 << 30
)

func newPostgres(emit func(Transaction), startup bool) *postgresDecoder {
	return &postgresDecoder{emit: emit, startup: startup, statements: map[string]string{}}
}

// isPostgresStartup reports whether b starts with a startup, SSL, GSS or
// cancel request.
func isPostgresStartup(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	n := binary.BigEndian.Uint32(b)
	code := binary.BigEndian.Uint32(b[4:])
	switch code {
	case pgProtocol3:
		return n >= 8 && n < 10000
	case pgSSLRequest, pgGSSENC:
		return n == 8
	case pgCancel:
		return n == 16
	}
	return false
}

// isPostgresQuery reports whether b starts with a Query or Parse message
// (a connection seen from the middle).
func isPostgresQuery(b []byte) bool {
	if len(b) < 6 || b[0] != 'Q' && b[0] != 'P' {
		return false
	}
	n := binary.BigEndian.Uint32(b[1:])
	return n >= 5 && n < 1<<24
}

func (d *postgresDecoder) client(data []byte, t time.Time) error {
	return d.req.feed(data, func(b []byte) (int, error) { return d.parseClient(b, t) })
}

func (d *postgresDecoder) server(data []byte, t time.Time) error {
	return d.rsp.feed(data, func(b []byte) (int, error) { return d.parseServer(b, t) })
}

func (d *postgresDecoder) gap(fromClient bool) {
	if fromClient {
		d.req.reset()
		d.batch = nil
		d.startup = false
		return
	}
	d.rsp.reset()
	d.queue = queue{}
	d.sslAnswer = false
}

func (d *postgresDecoder) close(t time.Time) {
	d.queue.failAll(topologyv1.Protocol_PROTOCOL_POSTGRES, t, d.emit)
}

// message splits a typed message: its type, its body (possibly only the
// first pgHeadLimit bytes of a large one, the rest left to skip), and the
// bytes consumed.
func message(b []byte, s *stream) (typ byte, body []byte, n int, ok bool, err error) {
	if len(b) < 5 {
		return 0, nil, 0, false, nil
	}
	size := int64(binary.BigEndian.Uint32(b[1:]))
	if size < 4 || size > pgMaxMessage {
		return 0, nil, 0, false, errProtocol
	}
	total := 1 + size
	if int64(len(b)) >= total {
		return b[0], b[5:total], int(total), true, nil
	}
	if total <= maxBuffered/2 {
		return 0, nil, 0, false, nil // wait for all of it
	}
	// Large (COPY data, big rows or parameters): its head is enough.
	if len(b) < 5+pgHeadLimit {
		return 0, nil, 0, false, nil
	}
	s.skip = total - int64(len(b))
	return b[0], b[5:], len(b), true, nil
}

func (d *postgresDecoder) parseClient(b []byte, t time.Time) (int, error) {
	if d.startup {
		if len(b) < 8 {
			return 0, nil
		}
		if !isPostgresStartup(b) {
			return 0, errProtocol
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < n {
			return 0, nil
		}
		switch binary.BigEndian.Uint32(b[4:]) {
		case pgSSLRequest, pgGSSENC:
			d.sslAnswer = true // one byte answers; after 'N' a startup follows
		default:
			d.startup = false
		}
		return n, nil
	}
	typ, body, n, ok, err := message(b, &d.req)
	if !ok || err != nil {
		return 0, err
	}
	switch typ {
	case 'Q':
		d.queue.push(pending{op: sqlOperation(body), start: t, bytes: int64(n)})
	case 'P': // Parse: name, query
		name, rest, _ := bytes.Cut(body, []byte{0})
		op := sqlOperation(rest)
		if len(d.statements) < maxStmts || d.statements[string(name)] != "" {
			d.statements[string(name)] = op
		}
		bt := d.batchOf(t, n)
		bt.op = firstNonEmpty(bt.op, op)
	case 'B': // Bind: portal, statement
		_, rest, _ := bytes.Cut(body, []byte{0})
		stmt, _, _ := bytes.Cut(rest, []byte{0})
		bt := d.batchOf(t, n)
		bt.op = firstNonEmpty(bt.op, d.statements[string(stmt)])
	case 'C': // Close of a statement forgets it
		if len(body) > 1 && body[0] == 'S' {
			name, _, _ := bytes.Cut(body[1:], []byte{0})
			delete(d.statements, string(name))
		}
		d.batchOf(t, n)
	case 'S': // Sync ends the batch: its answer is the next ReadyForQuery
		bt := d.batchOf(t, n)
		if bt.op == "" {
			bt.op = "SYNC"
		}
		d.queue.push(*bt)
		d.batch = nil
	case 'X': // Terminate
	case 'p', 'd', 'c', 'f', 'H': // auth, COPY data/done/fail, Flush
	default: // Describe, Execute, function calls: part of the batch
		d.batchOf(t, n)
	}
	return n, nil
}

// batchOf returns the extended-query batch being sent, starting one at t.
func (d *postgresDecoder) batchOf(t time.Time, n int) *pending {
	if d.batch == nil {
		d.batch = &pending{start: t}
	}
	d.batch.bytes += int64(n)
	return d.batch
}

func (d *postgresDecoder) parseServer(b []byte, t time.Time) (int, error) {
	if d.sslAnswer {
		d.sslAnswer = false
		switch b[0] {
		case 'N':
			return 1, nil // no encryption: the startup message follows in clear
		case 'S', 'G':
			return 0, errDone // TLS or GSS encryption: nothing more to read
		}
		return 0, errProtocol
	}
	typ, _, n, ok, err := message(b, &d.rsp)
	if !ok || err != nil {
		return 0, err
	}
	switch typ {
	case 'E':
		if h := d.queue.head(); h != nil {
			h.failed = true
		}
	case 'Z':
		p, ok := d.queue.pop()
		if !ok {
			return n, nil // the one after authentication
		}
		st := topologyv1.StatusClass_STATUS_CLASS_OK
		if p.failed {
			st = topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR
		}
		d.emit(Transaction{Protocol: topologyv1.Protocol_PROTOCOL_POSTGRES, Operation: p.op, Status: st,
			Start: p.start, Latency: t.Sub(p.start), RequestBytes: p.bytes})
	}
	return n, nil
}

// sqlOperation is the statement's first keyword, upper case ("SELECT").
func sqlOperation(q []byte) string {
	q = bytes.TrimLeft(q, " \t\r\n(")
	// Leading comments ("/* app */ SELECT", "-- x\nSELECT").
	for {
		switch {
		case bytes.HasPrefix(q, []byte("/*")):
			if i := bytes.Index(q, []byte("*/")); i >= 0 {
				q = bytes.TrimLeft(q[i+2:], " \t\r\n(")
				continue
			}
		case bytes.HasPrefix(q, []byte("--")):
			if i := bytes.IndexByte(q, '\n'); i >= 0 {
				q = bytes.TrimLeft(q[i+1:], " \t\r\n(")
				continue
			}
		}
		break
	}
	end := 0
	for end < len(q) && end < 16 && (q[end] >= 'a' && q[end] <= 'z' || q[end] >= 'A' && q[end] <= 'Z') {
		end++
	}
	if end == 0 {
		return "QUERY"
	}
	return string(bytes.ToUpper(q[:end]))
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
