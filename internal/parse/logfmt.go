package parse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// parseLogfmt reads key=value pairs separated by spaces; values may be
// double-quoted with Go escapes, and a bare key means true. Values stay
// strings: logfmt has no types, and guessing numbers would give one field two
// types across lines (which OpenSearch rejects). A line without a single
// key=value pair is not logfmt.
func parseLogfmt(p *Parser, s string, ref time.Time, r *record) error {
	m := r.keyedMap(8)
	pairs := 0
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' && s[i] != '"' {
			i++
		}
		key := s[start:i]
		if key == "" {
			return fmt.Errorf("logfmt: expected a key at byte %d", start)
		}
		if i >= len(s) || s[i] != '=' {
			m[fieldName(key)] = r.str("true")
			continue
		}
		i++ // '='
		var val string
		if i < len(s) && s[i] == '"' {
			end, err := quotedEnd(s, i)
			if err != nil {
				return err
			}
			val = s[i+1 : end-1]
			if strings.IndexByte(val, '\\') >= 0 {
				// Writers escape differently; keep the text as written
				// when it is not a Go string literal (or escapes to
				// invalid UTF-8).
				if u, err := strconv.Unquote(s[i:end]); err == nil && utf8.ValidString(u) {
					val = u
				}
			}
			i = end
		} else {
			vs := i
			for i < len(s) && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			val = s[vs:i]
		}
		m[fieldName(key)] = r.str(val)
		pairs++
	}
	if pairs == 0 {
		return errors.New("logfmt: no key=value pair")
	}
	p.mapKeyed(r, m, "logfmt", ref)
	return nil
}

// quotedEnd returns the index just past the double-quoted string that starts
// at s[i], skipping backslash escapes.
func quotedEnd(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated quoted string at byte %d", i)
}
