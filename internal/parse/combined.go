package parse

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// parseCombined reads the nginx/Apache access log:
//
//	%h %l %u [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"
//
// The referrer and user agent are optional (the common log format), and
// whatever follows them (nginx's "$http_x_forwarded_for", timings) is left in
// the message. Written by hand rather than as a regexp: it is the commonest
// format, and this is several times faster.
func parseCombined(p *Parser, s string, _ time.Time, r *record) error {
	host, rest, ok := strings.Cut(s, " ")
	if !ok || host == "" {
		return errors.New("combined: no client address")
	}
	_, rest, ok = strings.Cut(rest, " ") // identd: "-" in practice
	if !ok {
		return errors.New("combined: no identity")
	}
	user, rest, ok := strings.Cut(rest, " [")
	if !ok {
		return errors.New("combined: no [time]")
	}
	ts, rest, ok := strings.Cut(rest, "] ")
	if !ok || !strings.HasPrefix(rest, "\"") {
		return errors.New("combined: no \"request\" after [time]")
	}
	t, err := time.Parse(httpDate, ts)
	if err != nil {
		return errors.New("combined: time " + strconv.Quote(ts) + " is not like 21/Oct/2015:16:29:00 +0000")
	}
	request, rest, err := quoted(rest)
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
		if referrer, rest, err = quoted(rest); err != nil {
			return errors.New("combined: unterminated \"referrer\"")
		}
		if rest = strings.TrimPrefix(rest, " "); strings.HasPrefix(rest, "\"") {
			if agent, _, err = quoted(rest); err != nil {
				return errors.New("combined: unterminated \"user agent\"")
			}
		}
	}

	r.time = t
	r.setString("source.address", host)
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

// quoted splits s, which starts with a double quote, into the unescaped
// string and what follows it.
func quoted(s string) (string, string, error) {
	end, err := quotedEnd(s, 0)
	if err != nil {
		return "", "", err
	}
	return unescape(s[1 : end-1]), s[end:], nil
}

// unescape undoes Apache's \" and \\ (nginx writes \x22, kept as written).
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s)
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
