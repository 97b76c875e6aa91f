package parse

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/structpb"
)

// parseCombined reads the nginx/Apache access log:
//
//	[VHOST[:PORT] ]%h %l %u [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i" [EXTRA…]
//
// The referrer and user agent are optional (the common log format). %h may
// be an X-Forwarded-For chain ("10.0.0.2, 10.0.0.1, 127.0.0.1", as written by
// nginx configs logging $http_x_forwarded_for): source.address is its first
// address (the original client) and related.ip holds them all. Apache's
// vhost_combined prefix becomes destination.domain and destination.port.
// What follows the user agent (nginx's $request_time, $upstream_* …) is kept:
// quoted or bare words named by the parser's extra_fields in order, the rest
// (or all, without names) in the list access_log.extra. A line whose words
// before [time] fit none of these shapes is a parse failure rather than a
// guess. Written by hand rather than as a regexp: it is the commonest format,
// and this is several times faster.
func parseCombined(p *Parser, s string, _ time.Time, r *record) error {
	i := strings.Index(s, " [")
	if i < 0 {
		return errors.New("combined: no [time]")
	}
	head, rest := s[:i], s[i+2:]
	ts, rest, ok := strings.Cut(rest, "] ")
	if !ok || !strings.HasPrefix(rest, "\"") {
		return errors.New("combined: no \"request\" after [time]")
	}
	var words [8]string
	n := 0
	for w := range strings.SplitSeq(head, " ") {
		if n == len(words) {
			return errors.New("combined: too many words before [time]")
		}
		words[n] = w
		n++
	}
	if n < 3 {
		return errors.New("combined: want client, identity and user before [time]")
	}
	user := words[n-1]
	clients := words[:n-2]
	t, ok := httpTime(ts)
	if !ok {
		return errors.New("combined: time " + strconv.Quote(ts) + " is not like 21/Oct/2015:16:29:00 +0000")
	}
	request, rest, err := r.quoted(rest)
	if err != nil {
		return errors.New("combined: unterminated \"request\"")
	}
	status, rest, _ := strings.Cut(strings.TrimPrefix(rest, " "), " ")
	code, err := strconv.Atoi(status)
	if err != nil || code < 100 || code > 999 {
		return errors.New("combined: status " + strconv.Quote(status) + " is not a number")
	}
	size, rest, _ := strings.Cut(rest, " ")
	bytes := 0
	if size != "-" {
		if bytes, err = strconv.Atoi(size); err != nil || bytes < 0 {
			return errors.New("combined: size " + strconv.Quote(size) + " is neither a number nor -")
		}
	}
	var referrer, agent string
	if strings.HasPrefix(rest, "\"") {
		if referrer, rest, err = r.quoted(rest); err != nil {
			return errors.New("combined: unterminated \"referrer\"")
		}
		if rest = strings.TrimPrefix(rest, " "); strings.HasPrefix(rest, "\"") {
			if agent, rest, err = r.quoted(rest); err != nil {
				return errors.New("combined: unterminated \"user agent\"")
			}
		}
	}
	r.time = t // kept when what follows does not fit
	if err := clientAddresses(clients, r); err != nil {
		return err
	}
	if rest = strings.TrimLeft(rest, " "); rest != "" {
		if err := p.extraFields(rest, r); err != nil {
			return err
		}
	}

	if user != "-" && user != "" {
		r.setString("user.name", user)
	}
	// A request line that is not "METHOD target HTTP/x" (a TLS handshake on
	// the plain port, a scanner) is kept whole as the target.
	if method, target, ok := strings.Cut(request, " "); ok && isToken(method) {
		r.setString("http.request.method", method)
		if u, proto, ok := strings.Cut(target, " "); ok && strings.HasPrefix(proto, "HTTP/") {
			target = u
			r.setString("http.version", proto[len("HTTP/"):])
		}
		r.setString("url.original", target)
	} else if request != "" && request != "-" {
		r.setString("url.original", request)
	}
	r.setNumber("http.response.status_code", float64(code))
	r.setNumber("http.response.body.bytes", float64(bytes))
	if referrer != "" && referrer != "-" {
		r.setString("http.request.referrer", referrer)
	}
	if agent != "" && agent != "-" {
		r.setString("user_agent.original", agent)
	}
	return nil
}

// clientAddresses reads the words before identity and user: one client
// address, an X-Forwarded-For chain, or a vhost prefix and a client.
func clientAddresses(words []string, r *record) error {
	for _, w := range words {
		if !isAddress(strings.TrimSuffix(w, ",")) {
			return errors.New("combined: " + strconv.Quote(w) + " before [time] is not a host or an address")
		}
	}
	switch last := words[len(words)-1]; {
	case len(words) == 1 && !strings.Contains(last, ","):
		r.setString("source.address", last)
	case len(words) == 2 && !strings.HasSuffix(words[0], ",") && !strings.Contains(last, ","):
		host, port, hasPort := strings.Cut(words[0], ":")
		if hasPort && strings.Contains(port, ":") { // an IPv6 address: take it whole
			host, hasPort = words[0], false
		}
		r.setString("destination.domain", host)
		if hasPort {
			n, err := strconv.Atoi(port)
			if err != nil || n < 0 || n > 65535 {
				return errors.New("combined: vhost port " + strconv.Quote(port) + " is not a port")
			}
			r.setNumber("destination.port", float64(n))
		}
		r.setString("source.address", last)
	default: // "a, b, c" or "a,b,c"
		var ips []*structpb.Value
		for _, w := range words {
			for a := range strings.SplitSeq(w, ",") {
				if a != "" {
					ips = append(ips, r.str(a))
				}
			}
			if !strings.HasSuffix(w, ",") && w != words[len(words)-1] {
				return errors.New("combined: " + strconv.Quote(strings.Join(words, " ")) + " before [time] is neither an address, a vhost and an address, nor a comma-separated chain")
			}
		}
		if len(ips) == 0 {
			return errors.New("combined: empty client address chain")
		}
		r.set("source.address", ips[0])
		r.set("related.ip", structpb.NewListValue(&structpb.ListValue{Values: ips}))
	}
	return nil
}

// isAddress reports whether s can be an IP address, a host name or "-".
func isAddress(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '-' || c == '_' || c == '%' || c == ',') {
			return false
		}
	}
	return true
}

// extraFields reads the words after the user agent: quoted strings or bare
// words, named in order by the parser's extra names.
func (p *Parser) extraFields(s string, r *record) error {
	var list []*structpb.Value
	for k := 0; s != ""; k++ {
		var w string
		if s[0] == '"' {
			var err error
			if w, s, err = r.quoted(s); err != nil {
				return errors.New("combined: unterminated quoted field after the user agent")
			}
		} else {
			w, s, _ = strings.Cut(s, " ")
		}
		s = strings.TrimLeft(s, " ")
		if k < len(p.extra) {
			if w != "-" && w != "" {
				r.set(p.extra[k].field, p.extra[k].value(r, w))
			}
			continue
		}
		list = append(list, r.str(w))
	}
	if len(list) > 0 {
		r.set("access_log.extra", structpb.NewListValue(&structpb.ListValue{Values: list}))
	}
	return nil
}

// quoted splits s, which starts with a double quote, into the unescaped
// string and what follows it.
func (r *record) quoted(s string) (string, string, error) {
	end, err := quotedEnd(s, 0)
	if err != nil {
		return "", "", err
	}
	return r.unescape(s[1 : end-1]), s[end:], nil
}

// unescape undoes Apache's \" and \\ (nginx writes \x22, kept as written),
// into the line's text buffer rather than a string of its own.
func (r *record) unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	if cap(r.text)-len(r.text) < len(s) {
		// Strings already in the old buffer keep it.
		r.text = make([]byte, 0, max(256, 2*len(s), 2*cap(r.text)))
	}
	start := len(r.text)
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
			i++
		}
		r.text = append(r.text, s[i])
	}
	// Written once, never changed after (see join).
	return unsafe.String(&r.text[start], len(r.text)-start)
}

// httpTime reads the access log's time ("21/Oct/2015:16:29:00 +0200") by
// hand, as time.Parse(httpDate) would (which was a twentieth of the
// router's time per access line); another shape goes to time.Parse.
func httpTime(s string) (time.Time, bool) {
	if t, ok := httpTimeFast(s); ok {
		return t, true
	}
	t, err := time.Parse(httpDate, s)
	return t, err == nil
}

func httpTimeFast(s string) (time.Time, bool) {
	if len(s) != len(httpDate) || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' {
		return time.Time{}, false
	}
	day, ok1 := digits(s, 0, 2)
	year, ok2 := digits(s, 7, 4)
	hour, ok3 := digits(s, 12, 2)
	minute, ok4 := digits(s, 15, 2)
	sec, ok5 := digits(s, 18, 2)
	month := monthNumbers[s[3:6]]
	offset, ok6 := zoneOffset(s[21:])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month == 0 || (s[21] != '+' && s[21] != '-') ||
		day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}

// isToken reports whether s looks like an HTTP method.
func isToken(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range []byte(s) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
