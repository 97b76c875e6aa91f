package parse

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A timestamp layout as a dataset writes it: a Go layout, a strftime form
// (%Y-%m-%d), a Joda/Java form (yyyy-MM-dd, what Logstash's date filter
// takes), or a name. Each is turned into a Go layout (or an epoch unit) once,
// when the dataset is configured, and refused there when it could never read
// a time it writes, or when it holds digits that Go would take literally
// (20060102-15:04:05:000 reads only times at exactly :000).

// MaxLayouts bounds timestamp_layout + timestamp_layouts.
const MaxLayouts = 17

// layout is one resolved timestamp layout.
type layout struct {
	goLayout string // "" for an epoch or ISO 8601
	unit     int64  // nanoseconds per unit of an epoch layout; 0 otherwise
	iso      bool   // ISO8601: any RFC 3339 / ISO 8601 variant
}

// namedLayouts are the names a layout may be besides a form.
var namedLayouts = map[string]layout{
	"RFC3339":     {goLayout: time.RFC3339},
	"RFC3339Nano": {goLayout: time.RFC3339Nano},
	"ISO8601":     {iso: true},
	"HTTPDATE":    {goLayout: httpDate},
	"UNIX":        {unit: 1e9}, // seconds since the epoch, possibly fractional
	"UNIX_MS":     {unit: 1e6},
	"UNIX_US":     {unit: 1e3},
	"UNIX_NS":     {unit: 1},
}

const (
	httpDate    = "02/Jan/2006:15:04:05 -0700"
	slashedDate = "2006/01/02 15:04:05" // nginx error log
)

// resolveLayout turns what a dataset wrote into a layout.
func resolveLayout(s string) (layout, error) {
	if l, ok := namedLayouts[s]; ok {
		return l, nil
	}
	var goLayout string
	var err error
	switch {
	case strings.Contains(s, "%"):
		if s == "%s" {
			return layout{unit: 1e9}, nil
		}
		goLayout, err = fromStrftime(s)
	case isGoLayout(s):
		goLayout = s
	default:
		goLayout, err = fromJoda(s)
	}
	if err != nil {
		return layout{}, err
	}
	if err := checkGoLayout(goLayout); err != nil {
		return layout{}, err
	}
	return layout{goLayout: goLayout}, nil
}

// isGoLayout: Go layouts are written with the reference time's values.
func isGoLayout(s string) bool {
	for _, ref := range []string{"2006", "15", "Jan", "Mon", "MST", "-0700", "Z07", "01", "02", "04", "05", "06"} {
		if strings.Contains(s, ref) {
			return true
		}
	}
	return false
}

// checkGoLayout refuses a layout that could never read back a time it writes
// or that carries literal digits.
func checkGoLayout(l string) error {
	if d := literalDigits(l); d != "" {
		return fmt.Errorf("%q holds the digits %q, which a Go layout takes literally: fractional seconds are written .000 or ,000 (Joda: .SSS, strftime: .%%f)", clip(l), d)
	}
	ref := time.Date(2015, 10, 21, 16, 29, 7, 123456789, time.UTC)
	if ref.Format(l) == l {
		return fmt.Errorf("%q has no element of a time: write a Go layout (2006-01-02 15:04:05), a strftime one (%%Y-%%m-%%d %%H:%%M:%%S) or a Joda one (yyyy-MM-dd HH:mm:ss)", clip(l))
	}
	if _, err := time.Parse(l, ref.Format(l)); err != nil {
		return fmt.Errorf("%q can never parse: the time it writes, %q, does not read back (%v)", clip(l), clip(ref.Format(l)), err)
	}
	return nil
}

// goTokens are Go's layout elements that contain digits, longest first.
var goTokens = []string{
	"-07:00:00", "Z07:00:00", "-0700", "-07:00", "Z0700", "Z07:00", "2006", "__2", "002",
	"-07", "Z07", "01", "02", "03", "04", "05", "06", "15", "_2", "1", "2", "3", "4", "5",
}

// literalDigits returns the digits of l that are not part of a Go layout
// element (fractions are [.,] followed by 0s or 9s).
func literalDigits(l string) string {
	var lit strings.Builder
	for i := 0; i < len(l); {
		if (l[i] == '.' || l[i] == ',') && i+1 < len(l) && (l[i+1] == '0' || l[i+1] == '9') {
			j := i + 1
			for j < len(l) && l[j] == l[i+1] {
				j++
			}
			if j == len(l) || !isDigit(l[j]) {
				i = j
				continue
			}
		}
		matched := false
		for _, tok := range goTokens {
			if strings.HasPrefix(l[i:], tok) {
				i += len(tok)
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if isDigit(l[i]) {
			lit.WriteByte(l[i])
		}
		i++
	}
	return lit.String()
}

var strftimeDirectives = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03", 'M': "04",
	'S': "05", 'f': "000000", 'L': "000", 'N': "000000000", 'z': "-0700", 'Z': "MST", 'b': "Jan", 'h': "Jan",
	'B': "January", 'a': "Mon", 'A': "Monday", 'p': "PM", 'j': "002", 'T': "15:04:05",
	'F': "2006-01-02", 'D': "01/02/06", 'R': "15:04", '%': "%",
}

func fromStrftime(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends in a lone %%", clip(s))
		}
		i++
		g, ok := strftimeDirectives[s[i]]
		if !ok {
			return "", fmt.Errorf("%q: strftime directive %%%c is not supported (%%Y %%y %%m %%d %%e %%H %%I %%M %%S %%f %%L %%N %%z %%Z %%b %%B %%a %%A %%p %%j %%T %%F %%D %%R %%s)", clip(s), s[i])
		}
		if (s[i] == 'f' || s[i] == 'L' || s[i] == 'N') && (b.Len() == 0 || !strings.ContainsRune(".,", rune(b.String()[b.Len()-1]))) {
			return "", fmt.Errorf("%q: %%%c must follow . or , (a fraction of a second)", clip(s), s[i])
		}
		b.WriteString(g)
	}
	return b.String(), nil
}

// jodaLetters maps a Joda pattern letter repeated n times to Go.
func jodaLetter(c byte, n int) (string, bool) {
	switch c {
	case 'y', 'Y', 'u':
		if n == 2 {
			return "06", true
		}
		return "2006", true
	case 'M':
		switch n {
		case 1:
			return "1", true
		case 2:
			return "01", true
		case 3:
			return "Jan", true
		}
		return "January", true
	case 'd':
		if n == 1 {
			return "2", true
		}
		return "02", true
	case 'D':
		return "002", true
	case 'H':
		return "15", true
	case 'h':
		if n == 1 {
			return "3", true
		}
		return "03", true
	case 'm':
		if n == 1 {
			return "4", true
		}
		return "04", true
	case 's':
		if n == 1 {
			return "5", true
		}
		return "05", true
	case 'S':
		return strings.Repeat("0", n), true
	case 'a':
		return "PM", true
	case 'E':
		if n >= 4 {
			return "Monday", true
		}
		return "Mon", true
	case 'Z':
		if n == 2 {
			return "-07:00", true
		}
		return "-0700", true
	case 'X':
		switch n {
		case 1:
			return "Z07", true
		case 2:
			return "Z0700", true
		}
		return "Z07:00", true
	case 'z':
		return "MST", true
	}
	return "", false
}

func fromJoda(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'': // quoted literal; '' is a quote
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("%q: unterminated quote", clip(s))
			}
			if end == 0 {
				b.WriteByte('\'')
			} else {
				b.WriteString(s[i+1 : i+1+end])
			}
			i += end + 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			n := 1
			for i+n < len(s) && s[i+n] == c {
				n++
			}
			g, ok := jodaLetter(c, n)
			if !ok {
				return "", fmt.Errorf("%q: pattern letter %c is not supported (y M d D H h m s S a E Z X z, and 'quoted' literals)", clip(s), c)
			}
			if c == 'S' && (b.Len() == 0 || !strings.ContainsRune(".,", rune(b.String()[b.Len()-1]))) {
				return "", fmt.Errorf("%q: S must follow . or , (a fraction of a second)", clip(s))
			}
			b.WriteString(g)
			i += n
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// layoutsOf resolves timestamp_layout and timestamp_layouts.
func layoutsOf(first string, more []string) ([]layout, error) {
	if len(more)+1 > MaxLayouts {
		return nil, &ConfigError{"timestamp_layouts", fmt.Errorf("at most %d layouts; got %d", MaxLayouts-1, len(more))}
	}
	var out []layout
	if first != "" {
		l, err := resolveLayout(first)
		if err != nil {
			return nil, &ConfigError{"timestamp_layout", err}
		}
		out = append(out, l)
	}
	for i, s := range more {
		field := fmt.Sprintf("timestamp_layouts[%d]", i)
		if s == "" {
			return nil, &ConfigError{field, errors.New("empty")}
		}
		l, err := resolveLayout(s)
		if err != nil {
			return nil, &ConfigError{field, err}
		}
		out = append(out, l)
	}
	return out, nil
}
