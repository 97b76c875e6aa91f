package capture

import (
	"bytes"
	"strconv"
	"time"

	"github.com/hindsight-dev/hindsight/internal/httpstatus"
	"github.com/hindsight-dev/hindsight/internal/pathtemplate"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// httpDecoder pairs HTTP/1.x requests and responses on one connection
// (pipelined requests are answered in order). Bodies are skipped by
// Content-Length or chunked framing; a response without either ends at close.
type httpDecoder struct {
	emit     func(Transaction)
	req, rsp stream
	queue    queue

	reqChunks, rspChunks chunked
	untilClose           *pending // request whose response body ends with the connection
	untilCloseCode       int
	rspStart             time.Time
}

func newHTTP(emit func(Transaction)) *httpDecoder { return &httpDecoder{emit: emit} }

var httpMethods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("PUT "), []byte("DELETE "), []byte("HEAD "),
	[]byte("PATCH "), []byte("OPTIONS "), []byte("TRACE "), []byte("CONNECT "),
}

// isHTTPRequest reports whether b starts like an HTTP/1.x request.
func isHTTPRequest(b []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, m) {
			// Not the HTTP/2 preface ("PRI * HTTP/2.0"), which has no listed method.
			return true
		}
	}
	return false
}

func isHTTPResponse(b []byte) bool { return bytes.HasPrefix(b, []byte("HTTP/1.")) }

func (d *httpDecoder) client(data []byte, t time.Time) error {
	return d.req.feed(data, func(b []byte) (int, error) { return d.parseRequest(b, t) })
}

func (d *httpDecoder) server(data []byte, t time.Time) error {
	if d.untilClose != nil {
		return nil // body until close: nothing more to parse
	}
	return d.rsp.feed(data, func(b []byte) (int, error) { return d.parseResponse(b, t) })
}

func (d *httpDecoder) gap(fromClient bool) {
	if fromClient {
		d.req.reset()
		d.reqChunks = chunked{}
		return
	}
	// Responses lost: the requests they answered can no longer be paired.
	d.rsp.reset()
	d.rspChunks = chunked{}
	d.queue = queue{}
	d.untilClose = nil
}

func (d *httpDecoder) close(t time.Time) {
	if p := d.untilClose; p != nil {
		d.untilClose = nil
		d.emitDone(*p, d.untilCloseCode, d.rspStart, 0)
	}
	d.queue.failAll(topologyv1.Protocol_PROTOCOL_HTTP, t, d.emit)
}

// headEnd returns the length of the head (through the blank line), 0 if
// it is not complete yet.
func headEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return 0
}

func (d *httpDecoder) parseRequest(b []byte, t time.Time) (int, error) {
	if d.reqChunks.active {
		return d.reqChunks.parse(b, &d.req)
	}
	n := headEnd(b)
	if n == 0 {
		if len(b) > 0 && !isHTTPRequest(b) && len(b) >= 8 {
			return 0, errProtocol
		}
		return 0, nil
	}
	head := b[:n]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || !bytes.HasPrefix(version, []byte("HTTP/1.")) || len(method) == 0 {
		return 0, errProtocol
	}
	length, chunkedBody, upgrade := headers(rest)
	m := string(method)
	if m == "CONNECT" || upgrade {
		// A tunnel or another protocol follows; count this request when it
		// is answered, then stop.
		d.queue.push(pending{op: m + " " + pathtemplate.Template(string(target)), start: t, bytes: int64(n)})
		return n, nil
	}
	d.queue.push(pending{op: m + " " + pathtemplate.Template(string(target)), start: t, bytes: int64(n) + max(length, 0), noBody: m == "HEAD"})
	switch {
	case chunkedBody:
		d.reqChunks = chunked{active: true}
	case length > 0:
		d.req.skip = length
	}
	return n, nil
}

func (d *httpDecoder) parseResponse(b []byte, t time.Time) (int, error) {
	if d.rspChunks.active {
		return d.rspChunks.parse(b, &d.rsp)
	}
	n := headEnd(b)
	if n == 0 {
		if len(b) >= 8 && !isHTTPResponse(b) {
			return 0, errProtocol
		}
		return 0, nil
	}
	head := b[:n]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !isHTTPResponse(line) || len(line) < 12 {
		return 0, errProtocol
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 {
		return 0, errProtocol
	}
	length, chunkedBody, _ := headers(rest)
	if code < 200 && code != 101 {
		return n, nil // 100 Continue, 103 Early Hints: the final response follows
	}
	p, ok := d.queue.pop()
	if code == 101 || ok && p.op[:min(len(p.op), 8)] == "CONNECT " && code < 300 {
		if ok {
			d.emitDone(p, code, t, int64(n))
		}
		return 0, errDone
	}
	noBody := p.noBody || code == 204 || code == 304
	switch {
	case noBody:
	case chunkedBody:
		d.rspChunks = chunked{active: true}
	case length >= 0:
		d.rsp.skip = length
	default:
		// Neither length nor chunks: the body runs until the server closes.
		if ok {
			d.rspStart = t
			d.untilClose = &p
			d.untilCloseCode = code
		}
		return len(b), nil
	}
	if ok {
		d.emitDone(p, code, t, int64(n)+max(length, 0))
	}
	return n, nil
}

func (d *httpDecoder) emitDone(p pending, code int, t time.Time, rspBytes int64) {
	d.emit(Transaction{Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Operation: p.op, Status: httpstatus.Class(code),
		Start: p.start, Latency: t.Sub(p.start), RequestBytes: p.bytes, ResponseBytes: rspBytes})
}

// headers reads the framing headers: Content-Length (-1 when absent),
// Transfer-Encoding: chunked, and whether the connection is upgraded.
func headers(h []byte) (length int64, isChunked, upgrade bool) {
	length = -1
	for len(h) > 0 {
		var line []byte
		line, h, _ = bytes.Cut(h, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 {
				length = n
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			isChunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = len(value) > 0
		}
	}
	if isChunked {
		length = -1
	}
	return length, isChunked, upgrade
}

// chunked skips a chunked body: size lines, chunk data (skipped through the
// stream), and the trailer up to its blank line.
type chunked struct {
	active  bool
	trailer bool
}

func (c *chunked) parse(b []byte, s *stream) (int, error) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		if len(b) > 1024 {
			return 0, errProtocol
		}
		return 0, nil
	}
	line := b[:i]
	if c.trailer {
		if i == 0 { // the blank line ending the trailer: body done
			*c = chunked{}
		}
		return i + 2, nil
	}
	if j := bytes.IndexByte(line, ';'); j >= 0 {
		line = line[:j] // chunk extensions
	}
	size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
	if err != nil || size < 0 {
		return 0, errProtocol
	}
	if size == 0 {
		c.trailer = true
		return i + 2, nil
	}
	s.skip = size + 2 // the data and its CRLF
	return i + 2, nil
}
