package parse

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// timeParser reads event times: with the configured layouts, tried in
// order, or by recognising the common shapes. Times without an offset are in
// loc.
type timeParser struct {
	layouts []layout
	loc     *time.Location
}

// value reads a time from a field value: a string, or a number of seconds
// (or milliseconds, …) since the epoch.
func (tp timeParser) value(v *structpb.Value, ref time.Time) (time.Time, bool) {
	switch k := v.Kind.(type) {
	case *structpb.Value_StringValue:
		return tp.parse(k.StringValue, ref)
	case *structpb.Value_NumberValue:
		return tp.number(k.NumberValue)
	}
	return time.Time{}, false
}

func (tp timeParser) number(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e19 {
		return time.Time{}, false
	}
	unit := tp.epochUnit()
	if unit < 0 {
		return time.Time{}, false
	}
	if unit == 0 {
		unit = unitBySize(f)
	}
	whole, frac := math.Modf(f)
	if whole > 1<<53 { // beyond float64's integers: nanoseconds already
		return epoch(int64(whole), 0, 1)
	}
	return epoch(int64(whole), int64(math.Round(frac*float64(unit))), unit)
}

// epochUnit is the unit of the first epoch layout, 0 when times are
// auto-detected, -1 when no layout is an epoch.
func (tp timeParser) epochUnit() int64 {
	if len(tp.layouts) == 0 {
		return 0
	}
	for _, l := range tp.layouts {
		if l.unit > 0 {
			return l.unit
		}
	}
	return -1
}

// unitBySize is the nanoseconds per unit of an auto-detected epoch number:
// seconds up to the year 5138, then milliseconds, microseconds, nanoseconds.
func unitBySize(v float64) int64 {
	switch {
	case v < 1e11:
		return 1e9
	case v < 1e14:
		return 1e6
	case v < 1e17:
		return 1e3
	}
	return 1
}

// epoch is whole units of unit nanoseconds plus fracNS after the epoch.
func epoch(whole, fracNS, unit int64) (time.Time, bool) {
	if whole > math.MaxInt64/unit {
		return time.Time{}, false
	}
	return time.Unix(0, whole*unit+fracNS).UTC(), true
}

// epochString reads an epoch number written in decimal, exactly: float64
// cannot hold today's time in nanoseconds. A unit of 0 goes by size.
func epochString(s string, unit int64) (time.Time, bool) {
	intPart, fracPart, _ := strings.Cut(s, ".")
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || whole < 0 || strings.Trim(fracPart, "0123456789") != "" {
		return time.Time{}, false
	}
	if unit == 0 {
		unit = unitBySize(float64(whole))
	}
	var fracNS int64
	for u := unit / 10; u > 0 && fracPart != ""; u /= 10 {
		fracNS += int64(fracPart[0]-'0') * u
		fracPart = fracPart[1:]
	}
	return epoch(whole, fracNS, unit)
}

// parse reads a time from a string: with the first layout that reads it.
func (tp timeParser) parse(s string, ref time.Time) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(tp.layouts) == 0 {
		return tp.auto(s, ref)
	}
	for _, l := range tp.layouts {
		switch {
		case l.iso:
			if t, ok := tp.iso(s); ok {
				return t, true
			}
		case l.unit > 0:
			if t, ok := epochString(s, l.unit); ok {
				return t, true
			}
		default:
			if t, ok := tp.layoutsIn(s, ref, l.goLayout); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// auto recognises a time by its shape, trying only the layouts that shape
// allows: this runs for most lines, so it must not try every layout in turn.
func (tp timeParser) auto(s string, ref time.Time) (time.Time, bool) {
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		return tp.iso(s)
	case len(s) > 0 && isDigit(s[0]) && strings.Trim(s, "0123456789.") == "":
		return epochString(s, 0)
	case len(s) >= 26 && s[2] == '/' && s[6] == '/':
		return tp.layoutsIn(s, ref, httpDate)
	case len(s) >= 19 && s[4] == '/' && s[7] == '/':
		return tp.layoutsIn(s, ref, slashedDate)
	case len(s) >= 14 && s[3] == ' ' && isMonth(s[:3]):
		if n, ok := syslogStampLen(s); ok && n == len(s) {
			return tp.syslogStamp(s, ref)
		}
		return tp.layoutsIn(s, ref, "Jan _2 2006 15:04:05")
	case len(s) >= 24 && s[3] == ' ' && isWeekday(s[:3]):
		return tp.layoutsIn(s, ref, time.ANSIC, time.UnixDate, time.RubyDate)
	case len(s) >= 25 && s[3] == ',' && isWeekday(s[:3]):
		return tp.layoutsIn(s, ref, time.RFC1123Z, time.RFC1123)
	}
	return time.Time{}, false
}

func (tp timeParser) layoutsIn(s string, ref time.Time, layouts ...string) (time.Time, bool) {
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, tp.loc); err == nil {
			if t.Year() == 0 {
				t = inferYear(t, ref, tp.loc)
			}
			return t, true
		}
	}
	return time.Time{}, false
}

// iso reads ISO 8601 / RFC 3339 times by hand (the commonest shape, and
// time.Parse would need a layout per variant): a date, then optionally 'T' or
// ' ', hh:mm[:ss[.fraction]], and a zone (Z, ±hh, ±hhmm, ±hh:mm) or none.
func (tp timeParser) iso(s string) (time.Time, bool) {
	year, ok1 := digits(s, 0, 4)
	month, ok2 := digits(s, 5, 2)
	day, ok3 := digits(s, 8, 2)
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	var hour, minute, sec, nsec int
	i := 10
	if len(s) > 10 {
		if s[10] != 'T' && s[10] != ' ' && s[10] != 't' {
			return time.Time{}, false
		}
		var ok4, ok5 bool
		hour, ok4 = digits(s, 11, 2)
		minute, ok5 = digits(s, 14, 2)
		if !ok4 || !ok5 || s[13] != ':' {
			return time.Time{}, false
		}
		i = 16
		if i < len(s) && s[i] == ':' {
			var ok bool
			if sec, ok = digits(s, 17, 2); !ok {
				return time.Time{}, false
			}
			i = 19
			if i < len(s) && (s[i] == '.' || s[i] == ',') {
				i++
				scale := 100000000
				start := i
				for ; i < len(s) && isDigit(s[i]); i++ {
					if scale > 0 {
						nsec += int(s[i]-'0') * scale
						scale /= 10
					}
				}
				if i == start {
					return time.Time{}, false
				}
			}
		}
	}
	loc := tp.loc
	offset := 0
	if zone := strings.TrimLeft(s[i:], " "); zone != "" {
		var ok bool
		if offset, ok = zoneOffset(zone); !ok {
			return time.Time{}, false
		}
		loc = time.UTC
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day {
		return time.Time{}, false // February 30th and the like
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}

// zoneOffset reads Z, UTC, ±hh, ±hhmm or ±hh:mm as seconds east of UTC.
func zoneOffset(z string) (int, bool) {
	switch z {
	case "Z", "z", "UTC", "GMT":
		return 0, true
	}
	if len(z) < 3 || (z[0] != '+' && z[0] != '-') {
		return 0, false
	}
	h, ok := digits(z, 1, 2)
	if !ok {
		return 0, false
	}
	m := 0
	switch rest := z[3:]; {
	case rest == "":
	case len(rest) == 2:
		if m, ok = digits(rest, 0, 2); !ok {
			return 0, false
		}
	case len(rest) == 3 && rest[0] == ':':
		if m, ok = digits(rest, 1, 2); !ok {
			return 0, false
		}
	default:
		return 0, false
	}
	if h > 23 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return off, true
}

// syslogStampLen reports how long the syslog timestamp at the start of s is:
// "Mmm", one or two spaces, a day of one or two digits, a space, hh:mm:ss
// and an optional fraction ("Oct  1 06:25:01", "Oct 1 06:25:01.123").
func syslogStampLen(s string) (int, bool) {
	if len(s) < 14 || s[3] != ' ' || !isMonth(s[:3]) {
		return 0, false
	}
	i := 4
	if s[i] == ' ' {
		i++
	}
	start := i
	for i < len(s) && i-start < 2 && isDigit(s[i]) {
		i++
	}
	if i == start || len(s) < i+9 || s[i] != ' ' || s[i+3] != ':' || s[i+6] != ':' {
		return 0, false
	}
	for _, j := range [...]int{1, 2, 4, 5, 7, 8} {
		if !isDigit(s[i+j]) {
			return 0, false
		}
	}
	i += 9
	if i < len(s) && s[i] == '.' && i+1 < len(s) && isDigit(s[i+1]) {
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	return i, true
}

// syslogStamp reads a timestamp that syslogStampLen measured, in the year
// inferYear gives it.
func (tp timeParser) syslogStamp(s string, ref time.Time) (time.Time, bool) {
	month := monthNumbers[s[:3]]
	i := 4
	if s[i] == ' ' {
		i++
	}
	day := 0
	for ; s[i] != ' '; i++ {
		day = day*10 + int(s[i]-'0')
	}
	hour, _ := digits(s, i+1, 2)
	minute, _ := digits(s, i+4, 2)
	sec, _ := digits(s, i+7, 2)
	nsec := 0
	if i += 9; i < len(s) { // ".fraction"
		scale := 100000000
		for _, c := range []byte(s[i+1:]) {
			nsec += int(c-'0') * scale
			scale /= 10
		}
	}
	if day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	t := time.Date(0, month, day, hour, minute, sec, nsec, tp.loc)
	return inferYear(t, ref, tp.loc), true
}

// inferYear gives a time read without a year (syslog's "Jan _2 15:04:05") the
// year that puts it at or before ref, allowing ref to be two days behind the
// line's clock: a December line read in January is from the year before. The
// ref is when the line was read, or the file's own date when the agent
// back-fills an old file (Input.FileTime).
func inferYear(t, ref time.Time, loc *time.Location) time.Time {
	ref = ref.In(loc)
	y := time.Date(ref.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	if y.After(ref.Add(48 * time.Hour)) {
		y = y.AddDate(-1, 0, 0)
	}
	return y
}

// leadingTime finds the common timestamp shapes at the start of a raw line,
// possibly in brackets: ISO 8601, HTTPDATE, syslog, the nginx error log's
// "2006/01/02 15:04:05" and the Apache error log's "Wed Oct 21 16:29:00.123 2015".
var leadingTime = regexp.MustCompile(mustExpand(`^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z| ?[+-]\d\d(?::?\d\d)?)?` +
	`|%{HTTPDATE}|%{SYSLOGTIMESTAMP}` +
	`|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d` +
	`|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4})`))

// leading reads a timestamp at the start of a raw line.
func (tp timeParser) leading(s string, ref time.Time) (time.Time, bool) {
	if len(s) < 15 || !(isDigit(s[0]) || s[0] == '[' || (s[0] >= 'A' && s[0] <= 'Z')) {
		return time.Time{}, false
	}
	m := leadingTime.FindStringSubmatchIndex(s)
	if m == nil {
		return time.Time{}, false
	}
	return timeParser{loc: tp.loc}.auto(s[m[2]:m[3]], ref)
}

// validTime reports whether t can be an event time (protobuf timestamps span
// the years 1 to 9999).
func validTime(t time.Time) bool {
	return !t.IsZero() && t.Year() >= 1 && t.Year() <= 9999
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits reads the n-digit decimal number at s[i:].
func digits(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

var monthNumbers = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

var weekdays = map[string]bool{
	"Mon": true, "Tue": true, "Wed": true, "Thu": true, "Fri": true, "Sat": true, "Sun": true,
}

func isMonth(s string) bool   { return monthNumbers[s] != 0 }
func isWeekday(s string) bool { return weekdays[s] }
