// Package pathtemplate collapses the ids in URL paths ("/users/42/orders/
// 9f0c...") into placeholders ("/users/{id}/orders/{id}"), so requests to one
// endpoint count as one operation of an edge however many ids they carry.
// Capture and access logs share it, so both name operations alike.
package pathtemplate

import "strings"

// Placeholder replaces a path segment that looks like an id.
const Placeholder = "{id}"

// maxSegments bounds the work and the cardinality of odd paths.
const maxSegments = 8

// Template returns the path of target (query and fragment dropped) with id-like
// segments replaced. It never allocates for a path without ids.
func Template(target string) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	if target == "" {
		return "/"
	}
	if target[0] != '/' { // absolute-form (proxies) or "*": keep the path only
		if i := strings.Index(target, "://"); i >= 0 {
			rest := target[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				target = rest[j:]
			} else {
				return "/"
			}
		} else {
			return target
		}
	}
	if !hasID(target) && strings.Count(target, "/") <= maxSegments {
		return target
	}
	var b strings.Builder
	n := 0
	for seg := range strings.SplitSeq(target[1:], "/") {
		if n == maxSegments {
			b.WriteString("/…")
			break
		}
		n++
		b.WriteByte('/')
		if isID(seg) {
			b.WriteString(Placeholder)
		} else {
			b.WriteString(seg)
		}
	}
	return b.String()
}

func hasID(path string) bool {
	for seg := range strings.SplitSeq(path[1:], "/") {
		if isID(seg) {
			return true
		}
	}
	return false
}

// isID: all digits; a UUID; or a long token mixing digits with letters
// (hex digests, base64 ids), which names are rarely made of.
func isID(seg string) bool {
	if seg == "" {
		return false
	}
	digits, letters, other := 0, 0, 0
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters++
		case c == '-' || c == '_':
			other++
		default:
			return false
		}
	}
	switch {
	case digits == len(seg):
		return true
	case len(seg) == 36 && other == 4 && seg[8] == '-' && seg[13] == '-' && seg[18] == '-' && seg[23] == '-':
		return true
	}
	return len(seg) >= 16 && digits >= 2 && letters > 0
}
