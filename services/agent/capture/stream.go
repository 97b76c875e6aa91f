package capture

import (
	"errors"
	"time"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// Transaction is one request paired with its response (or its failure).
type Transaction struct {
	Protocol  topologyv1.Protocol
	Operation string // "GET /users/{id}", "GET" (Redis), "SELECT"
	Status    topologyv1.StatusClass
	Start     time.Time // first byte of the request
	Latency   time.Duration
	// RequestBytes and ResponseBytes count the messages' bytes on the wire.
	RequestBytes, ResponseBytes int64
}

// decoder is one protocol's parser for one connection. The reassembler feeds
// it each direction's bytes in order; data is only valid during the call.
type decoder interface {
	client(data []byte, t time.Time) error
	server(data []byte, t time.Time) error
	// gap: bytes of this direction were lost; resynchronise at the next message.
	gap(fromClient bool)
	// close: the connection ended; requests still waiting have failed.
	close(t time.Time)
}

// errProtocol means the bytes are not what the decoder expects: it drops
// what it was waiting for and resynchronises.
var errProtocol = errors.New("protocol error")

// errDone means the connection left the protocol (TLS, an upgrade): stop
// decoding it.
var errDone = errors.New("connection no longer decodable")

// maxBuffered bounds what one direction of one connection keeps while a
// message head is incomplete; a head larger than that is a protocol error.
const maxBuffered = 16 << 10

// stream holds one direction's bytes that a parser could not consume yet,
// and a count of bytes to drop unparsed (message bodies). Bodies are never
// buffered, so memory per connection stays within maxBuffered.
type stream struct {
	buf  []byte
	skip int64
}

// feed runs parse over data (after what was buffered) until it needs more
// bytes. parse returns how many bytes it consumed (0: need more) and may set
// s.skip to drop a body that follows.
func (s *stream) feed(data []byte, parse func(b []byte) (int, error)) error {
	if s.skip > 0 {
		if int64(len(data)) <= s.skip {
			s.skip -= int64(len(data))
			return nil
		}
		data = data[s.skip:]
		s.skip = 0
	}
	b := data
	if len(s.buf) > 0 {
		s.buf = append(s.buf, data...)
		b = s.buf
	}
	for len(b) > 0 {
		n, err := parse(b)
		if err != nil {
			s.reset()
			return err
		}
		if n == 0 {
			break
		}
		b = b[n:]
		if s.skip > 0 {
			if int64(len(b)) <= s.skip {
				s.skip -= int64(len(b))
				b = nil
				break
			}
			b = b[s.skip:]
			s.skip = 0
		}
	}
	if len(b) > maxBuffered {
		s.reset()
		return errProtocol
	}
	// Keep the rest, in a buffer of our own (data belongs to the caller).
	if len(b) == 0 {
		s.buf = s.buf[:0]
	} else if len(s.buf) > 0 {
		s.buf = append(s.buf[:0], b...)
	} else {
		s.buf = append(make([]byte, 0, max(len(b), 512)), b...)
	}
	return nil
}

func (s *stream) reset() {
	s.buf = s.buf[:0]
	s.skip = 0
}

// pending is a request waiting for its response.
type pending struct {
	op    string
	start time.Time
	bytes int64
	// per protocol
	noBody bool // HTTP: HEAD, whose response has no body
	failed bool // PostgreSQL: an ErrorResponse came before ReadyForQuery
}

// queue of pending requests, oldest first, bounded: a peer that pipelines
// more than maxPending requests without answers has its oldest forgotten.
type queue struct{ items []pending }

const maxPending = 256

func (q *queue) push(p pending) bool {
	if len(q.items) >= maxPending {
		return false
	}
	q.items = append(q.items, p)
	return true
}

func (q *queue) pop() (pending, bool) {
	if len(q.items) == 0 {
		return pending{}, false
	}
	p := q.items[0]
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = q.items[:0:0]
	}
	return p, true
}

func (q *queue) head() *pending {
	if len(q.items) == 0 {
		return nil
	}
	return &q.items[0]
}

// failAll reports every pending request as failed at t (connection reset or
// closed before answering) and empties the queue.
func (q *queue) failAll(proto topologyv1.Protocol, t time.Time, emit func(Transaction)) {
	for _, p := range q.items {
		emit(Transaction{Protocol: proto, Operation: p.op, Status: topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR,
			Start: p.start, Latency: t.Sub(p.start), RequestBytes: p.bytes})
	}
	q.items = nil
}
