package parse

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// parseRFC3164 reads BSD syslog, as sent on the wire or written to files by
// syslog daemons (which drop the <PRI>):
//
//	[<PRI>]Oct 21 16:29:00 HOST TAG[PID]: MESSAGE
//
// The day may be space-padded ("Oct  1"), zero-padded or neither ("Oct 1", as
// many forwarders write it); the time may also be RFC 3339 (rsyslog's
// high-precision format); the host may be missing (local messages), and so
// may the tag. A tag may carry a context in parentheses, before the PID as
// Linux PAM writes it (sshd(pam_unix)[42]:) or after it as macOS launchd does
// (com.apple.xpc.launchd[1] (com.apple.Safari.1234):); it becomes
// log.syslog.context.
func parseRFC3164(p *Parser, s string, ref time.Time, r *record) error {
	rest, err := priority(s, r, false)
	if err != nil {
		return err
	}
	var t time.Time
	if n, ok := syslogStampLen(rest); ok {
		if t, ok = p.times.syslogStamp(rest[:n], ref); !ok {
			return errors.New("rfc3164: bad timestamp " + strconv.Quote(rest[:n]))
		}
		rest = rest[n:]
	} else if len(rest) >= 19 && rest[4] == '-' {
		n := strings.IndexByte(rest, ' ')
		if n < 0 {
			n = len(rest)
		}
		if t, ok = p.times.iso(rest[:n]); !ok {
			return errors.New("rfc3164: bad timestamp " + strconv.Quote(rest[:n]))
		}
		rest = rest[n:]
	} else {
		return errors.New("rfc3164: no timestamp (like \"Oct 21 16:29:00\")")
	}
	if !strings.HasPrefix(rest, " ") {
		return errors.New("rfc3164: no space after the timestamp")
	}
	r.time = t
	rest = strings.TrimLeft(rest, " ")

	// The next word is the host unless it is already the tag.
	if word, after, ok := strings.Cut(rest, " "); ok && !strings.ContainsAny(word, "[:") {
		r.setString("host.hostname", word)
		rest = after
	}
	if name, pid, context, after, ok := syslogTag(rest); ok {
		r.setString("process.name", name)
		setPID(r, pid)
		if context != "" {
			r.setString("log.syslog.context", context)
		}
		rest = after
	}
	r.message = rest
	return nil
}

// parseRFC5424 reads
//
//	<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID PARAM="v"…]… MSG
//
// where any header field may be "-" and structured data becomes
// log.syslog.structured_data.<SD-ID>.<PARAM>.
func parseRFC5424(p *Parser, s string, ref time.Time, r *record) error {
	rest, err := priority(s, r, true)
	if err != nil {
		return err
	}
	var head [6]string // version, timestamp, host, app, procid, msgid
	for i := range head {
		var ok bool
		if head[i], rest, ok = strings.Cut(rest, " "); !ok && i < len(head)-1 || head[i] == "" {
			return errors.New("rfc5424: header has fewer than 7 fields")
		}
	}
	version, stamp, host, app, procid, msgid := head[0], head[1], head[2], head[3], head[4], head[5]
	if _, err := strconv.Atoi(version); err != nil {
		return errors.New("rfc5424: version " + strconv.Quote(version) + " is not a number")
	}
	if stamp != "-" {
		t, ok := p.times.iso(stamp)
		if !ok {
			return errors.New("rfc5424: bad timestamp " + strconv.Quote(stamp))
		}
		r.time = t
	}
	if rest, err = structuredData(rest, r); err != nil {
		return err
	}
	r.setString("log.syslog.version", version)
	if host != "-" {
		r.setString("host.hostname", host)
	}
	if app != "-" {
		r.setString("process.name", app)
	}
	if procid != "-" {
		setPID(r, procid)
	}
	if msgid != "-" {
		r.setString("log.syslog.msgid", msgid)
	}
	if rest != "" {
		if rest[0] != ' ' {
			return errors.New("rfc5424: no space before the message")
		}
		r.message = strings.TrimPrefix(rest[1:], "\uFEFF")
	}
	return nil
}

const sdPrefix = "log.syslog.structured_data."

// structuredData reads RFC 5424 structured data ("-" or [id k="v" …]…) into
// r and returns what follows it.
func structuredData(s string, r *record) (string, error) {
	if strings.HasPrefix(s, "-") {
		return s[1:], nil
	}
	if !strings.HasPrefix(s, "[") {
		return "", errors.New("rfc5424: structured data must be - or [...]")
	}
	// Names and unescaped values are put together in the record's text
	// buffer, not one allocation each.
	r.room(2*len(s) + 64)
	for strings.HasPrefix(s, "[") {
		end := strings.IndexAny(s, " ]")
		if end < 2 {
			return "", errors.New("rfc5424: structured data element without an id")
		}
		id := fieldName(s[1:end])
		s = s[end:]
		for strings.HasPrefix(s, " ") {
			name, rest, ok := strings.Cut(s[1:], "=\"")
			if !ok || name == "" || strings.ContainsAny(name, " ]\"") {
				return "", errors.New("rfc5424: structured data parameter is not name=\"value\"")
			}
			i, escaped := 0, false
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) && strings.IndexByte(`"\]`, rest[i+1]) >= 0 {
					i++
					escaped = true
				}
			}
			if i == len(rest) {
				return "", errors.New("rfc5424: unterminated structured data value")
			}
			value := rest[:i]
			if escaped {
				var b []byte
				for j := 0; j < len(value); j++ {
					if value[j] == '\\' && j+1 < len(value) && strings.IndexByte(`"\]`, value[j+1]) >= 0 {
						j++
					}
					b = append(b, value[j])
				}
				value = r.join(view(b))
			}
			r.setString(r.join(sdPrefix, id, ".", fieldName(name)), value)
			s = rest[i+1:]
		}
		if !strings.HasPrefix(s, "]") {
			return "", errors.New("rfc5424: structured data element not closed by ]")
		}
		s = s[1:]
	}
	return s, nil
}

// priority reads "<PRI>" into the log.syslog fields and the level.
func priority(s string, r *record, required bool) (string, error) {
	if !strings.HasPrefix(s, "<") {
		if required {
			return "", errors.New("rfc5424: no <PRI>")
		}
		return s, nil
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return "", errors.New("syslog: malformed <PRI>")
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri < 0 || pri > 191 {
		return "", errors.New("syslog: <PRI> is not 0-191")
	}
	fac, sev := pri/8, pri%8
	r.setNumber("log.syslog.priority", float64(pri))
	r.setNumber("log.syslog.facility.code", float64(fac))
	r.setString("log.syslog.facility.name", facilities[fac])
	r.setNumber("log.syslog.severity.code", float64(sev))
	r.setString("log.syslog.severity.name", severities[sev])
	r.level = levels[sev]
	return s[end+1:], nil
}

// setPID sets process.pid from a numeric PROCID, else log.syslog.procid.
func setPID(r *record, pid string) {
	if pid == "" {
		return
	}
	if n, err := strconv.Atoi(pid); err == nil && n >= 0 {
		r.setNumber("process.pid", float64(n))
		return
	}
	r.setString("log.syslog.procid", pid)
}

var facilities = [24]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// severities are the RFC 5424 severity keywords; levels what log.level says.
var (
	severities = [8]string{"emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"}
	levels     = [8]string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}
)

// syslogTag reads "NAME[PID]: ", "NAME(CONTEXT)[PID]: ", "NAME[PID] (CONTEXT): "
// or "NAME: " at the start of s and returns its parts and the message after it.
func syslogTag(s string) (name, pid, context, rest string, ok bool) {
	i := strings.IndexAny(s, "[(: ")
	if i <= 0 || s[i] == ' ' {
		return "", "", "", "", false
	}
	name, rest = s[:i], s[i:]
	if rest[0] == '(' { // NAME(CONTEXT)
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return "", "", "", "", false
		}
		context, rest = rest[1:end], rest[end+1:]
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", "", "", false
		}
		pid, rest = rest[1:end], rest[end+1:]
	}
	if context == "" && strings.HasPrefix(rest, " (") { // NAME[PID] (CONTEXT)
		if end := strings.Index(rest, "):"); end > 0 && !strings.Contains(rest[2:end], " ") {
			context, rest = rest[2:end], rest[end+1:]
		}
	}
	if !strings.HasPrefix(rest, ":") {
		return "", "", "", "", false
	}
	return name, pid, context, strings.TrimPrefix(rest[1:], " "), true
}
