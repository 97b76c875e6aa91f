package renderer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values from the membership registry are written by whoever may call
// Register, and end up in files that programs run as root parse (haproxy.cfg
// can start programs). Templates print them through a quoting function for
// their target, and no value with a line break or other control character
// is rendered at all: the render fails and the old file stays.

// checkValue refuses a value that is not valid UTF-8 or holds a control
// character (newlines above all: one line break is enough to add a section
// to a line-oriented config).
func checkValue(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8; refusing to render it", what)
	}
	for i, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return fmt.Errorf("%s holds control character %U at byte %d; refusing to render it", what, r, i)
		}
	}
	return nil
}

// checkMember checks every string of a member that a template can print.
func checkMember(m Member) error {
	name := fmt.Sprintf("member %s/%s", m.Service, m.ID)
	for _, f := range [...]struct{ what, s string }{
		{name + ": id", m.ID}, {name + ": address", m.Address}, {name + ": service", m.Service},
	} {
		if err := checkValue(f.what, f.s); err != nil {
			return err
		}
	}
	for k, v := range m.Labels {
		if err := checkValue(fmt.Sprintf("%s: label key %q", name, k), k); err != nil {
			return err
		}
		if err := checkValue(fmt.Sprintf("%s: label %q", name, k), v); err != nil {
			return err
		}
	}
	return nil
}

// haproxyQuote makes s one HAProxy configuration word with the value s, as
// HAProxy 2.x's parser reads it: inside single quotes nothing is special (no
// '#' comment, no '\' escape, no "$VAR" expansion, no word break), and a
// single quote itself is closed, escaped and reopened ('\”). Control
// characters cannot be written in a word at all, so they are an error.
func haproxyQuote(s string) (string, error) {
	if err := checkValue("haproxy: value", s); err != nil {
		return "", err
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}
