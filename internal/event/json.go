package event

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// appendValue writes v as JSON. Parsed fields are on the router's hot path for
// every line, and protojson's per-value encoder cost most of the router's CPU,
// so this writes the six kinds of a structpb.Value directly.
func appendValue(buf []byte, v *structpb.Value) ([]byte, error) {
	switch k := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return append(buf, "null"...), nil
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(buf, k.BoolValue), nil
	case *structpb.Value_NumberValue:
		return appendNumber(buf, k.NumberValue)
	case *structpb.Value_StringValue:
		return appendString(buf, k.StringValue), nil
	case *structpb.Value_ListValue:
		buf = append(buf, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendValue(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case *structpb.Value_StructValue:
		fields := k.StructValue.GetFields()
		keys := make([]string, 0, len(fields))
		for name := range fields {
			keys = append(keys, name)
		}
		sort.Strings(keys)
		buf = append(buf, '{')
		for i, name := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(appendString(buf, name), ':')
			var err error
			if buf, err = appendValue(buf, fields[name]); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	default:
		return nil, fmt.Errorf("unknown value kind %T", k)
	}
}

// appendNumber formats f as encoding/json does, byte for byte; JSON has no
// NaN or infinity.
func appendNumber(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %v has no JSON form", f)
	}
	// Whole numbers (status codes, sizes, pids: most parsed numbers) the
	// short way; AppendFloat's shortest-digits search writes the same.
	if f == math.Trunc(f) && math.Abs(f) < 1e15 && (f != 0 || !math.Signbit(f)) {
		return strconv.AppendInt(buf, int64(f), 10), nil
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	// As encoding/json does, e-07 becomes e-7.
	if n := len(buf); format == 'e' && n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
		buf[n-2] = buf[n-1]
		buf = buf[:n-1]
	}
	return buf, nil
}

const hexDigits = "0123456789abcdef"

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// zeroByte is non-zero if a byte of w is zero (and may then flag others
// too); it is zero only if none is. (w-ones*n)&^w&highs likewise flags the
// bytes below n.
func zeroByte(w uint64) uint64 { return (w - ones) &^ w & highs }

// plain are the ASCII bytes a JSON string holds as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so documents stay valid for OpenSearch.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs escaping or is non-ASCII
		// (messages are mostly plain, and this runs over every one).
		if i+8 <= len(s) {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if (w-ones*0x20)&^w&highs|zeroByte(w^(ones*'"'))|zeroByte(w^(ones*'\\'))|w&highs == 0 {
				i += 8
				continue
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
