package capture

import (
	"bytes"
	"strconv"
	"time"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// redisDecoder pairs Redis commands (RESP arrays of bulk strings, or inline
// commands) with their replies, in order. Replies may nest (arrays, maps,
// RESP3 types); a reply is an error when its top level is an error
// ('-' simple error or '!' blob error). Values are skipped, never buffered.
type redisDecoder struct {
	emit     func(Transaction)
	req, rsp stream
	queue    queue

	// The command being read: elements still to come, its name once known.
	cmdLeft  int
	cmdName  string
	cmdStart time.Time
	cmdBytes int64

	// The reply being read: values still to come at each nesting level.
	depth    []int
	rspError bool
	rspBytes int64
}

func newRedis(emit func(Transaction)) *redisDecoder { return &redisDecoder{emit: emit} }

// isRedisCommand reports whether b starts like a RESP command: "*<n>\r\n$".
func isRedisCommand(b []byte) bool {
	if len(b) < 4 || b[0] != '*' {
		return false
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 2 || i > 8 {
		return false
	}
	if _, err := strconv.Atoi(string(b[1:i])); err != nil {
		return false
	}
	return len(b) == i+2 || b[i+2] == '$'
}

func (d *redisDecoder) client(data []byte, t time.Time) error {
	return d.req.feed(data, func(b []byte) (int, error) { return d.parseCommand(b, t) })
}

func (d *redisDecoder) server(data []byte, t time.Time) error {
	return d.rsp.feed(data, func(b []byte) (int, error) { return d.parseReply(b, t) })
}

func (d *redisDecoder) gap(fromClient bool) {
	if fromClient {
		d.req.reset()
		d.cmdLeft, d.cmdName = 0, ""
		return
	}
	d.rsp.reset()
	d.depth, d.rspError, d.rspBytes = d.depth[:0], false, 0
	d.queue = queue{}
}

func (d *redisDecoder) close(t time.Time) {
	d.queue.failAll(topologyv1.Protocol_PROTOCOL_REDIS, t, d.emit)
}

// line returns the CRLF-terminated line at the start of b, or ok=false when
// it is not complete.
func line(b []byte) (l []byte, n int, ok bool) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return nil, 0, false
	}
	return b[:i], i + 2, true
}

func (d *redisDecoder) parseCommand(b []byte, t time.Time) (int, error) {
	l, n, ok := line(b)
	if !ok {
		if len(b) > 1024 && d.cmdLeft == 0 && b[0] != '*' {
			return 0, errProtocol
		}
		return 0, nil
	}
	if d.cmdLeft == 0 {
		d.cmdStart, d.cmdBytes, d.cmdName = t, 0, ""
		if len(l) > 0 && l[0] == '*' {
			count, err := strconv.Atoi(string(l[1:]))
			if err != nil || count < 1 || count > 1<<20 {
				return 0, errProtocol
			}
			d.cmdLeft = count
			d.cmdBytes += int64(n)
			return n, nil
		}
		// Inline command: "PING\r\n".
		name, _, _ := bytes.Cut(bytes.TrimSpace(l), []byte(" "))
		if len(name) == 0 {
			return n, nil
		}
		d.pushCommand(string(bytes.ToUpper(name)), t, int64(n))
		return n, nil
	}
	// An element of the array: "$<len>\r\n" then the data.
	if len(l) == 0 || l[0] != '$' {
		return 0, errProtocol
	}
	size, err := strconv.ParseInt(string(l[1:]), 10, 64)
	if err != nil || size < 0 {
		return 0, errProtocol
	}
	if d.cmdName == "" {
		// The name is needed: wait for the whole (short) element.
		if size > 64 {
			return 0, errProtocol
		}
		if int64(len(b)) < int64(n)+size+2 {
			return 0, nil
		}
		d.cmdName = string(bytes.ToUpper(b[n : n+int(size)]))
		d.element(int64(n) + size + 2)
		return n + int(size) + 2, nil
	}
	d.req.skip = size + 2
	d.element(int64(n) + size + 2)
	return n, nil
}

// element counts one array element of the current command.
func (d *redisDecoder) element(bytes int64) {
	d.cmdBytes += bytes
	if d.cmdLeft--; d.cmdLeft == 0 {
		d.pushCommand(d.cmdName, d.cmdStart, d.cmdBytes)
	}
}

func (d *redisDecoder) pushCommand(name string, t time.Time, n int64) {
	d.queue.push(pending{op: name, start: t, bytes: n})
}

func (d *redisDecoder) parseReply(b []byte, t time.Time) (int, error) {
	l, n, ok := line(b)
	if !ok {
		if len(b) > 64<<10 {
			return 0, errProtocol
		}
		return 0, nil
	}
	if len(l) == 0 {
		return 0, errProtocol
	}
	top := len(d.depth) == 0
	if top {
		d.rspError, d.rspBytes = false, 0
	}
	d.rspBytes += int64(n)
	children := 0 // values nested under this one
	switch l[0] {
	case '+', ':', ',', '#', '(', '_':
	case '-':
		d.rspError = d.rspError || top
	case '$', '=', '!':
		size, err := strconv.ParseInt(string(l[1:]), 10, 64)
		if err != nil || size < -1 {
			return 0, errProtocol
		}
		if l[0] == '!' && top {
			d.rspError = true
		}
		if size >= 0 {
			d.rsp.skip = size + 2
			d.rspBytes += size + 2
		}
	case '*', '~', '>', '%', '|':
		count, err := strconv.Atoi(string(l[1:]))
		if err != nil || count < -1 || count > 1<<24 {
			return 0, errProtocol
		}
		if l[0] == '%' || l[0] == '|' {
			count *= 2 // maps and attributes hold pairs
		}
		children = max(count, 0)
		if l[0] == '|' {
			// An attribute precedes the reply it describes: its pairs, then one more value.
			children++
		}
	default:
		return 0, errProtocol
	}
	if children > 0 {
		if len(d.depth) >= 64 {
			return 0, errProtocol
		}
		d.depth = append(d.depth, children)
		return n, nil
	}
	// A complete value: it completes the levels it ends.
	for len(d.depth) > 0 {
		d.depth[len(d.depth)-1]--
		if d.depth[len(d.depth)-1] > 0 {
			return n, nil
		}
		d.depth = d.depth[:len(d.depth)-1]
	}
	d.reply(t)
	return n, nil
}

func (d *redisDecoder) reply(t time.Time) {
	p, ok := d.queue.pop()
	if !ok {
		return // pub/sub messages and pushes answer no command
	}
	st := topologyv1.StatusClass_STATUS_CLASS_OK
	if d.rspError {
		st = topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR
	}
	d.emit(Transaction{Protocol: topologyv1.Protocol_PROTOCOL_REDIS, Operation: p.op, Status: st,
		Start: p.start, Latency: t.Sub(p.start), RequestBytes: p.bytes, ResponseBytes: d.rspBytes})
}
