package parse

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// builtins are the patterns %{NAME} expands to, grok's names for them (RE2
// has no look-arounds, so some are looser than grok's).
var builtins = map[string]string{
	"INT":               `[+-]?\d+`,
	"POSINT":            `\b[1-9]\d*\b`,
	"NUMBER":            `[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?`,
	"WORD":              `\b\w+\b`,
	"NOTSPACE":          `\S+`,
	"SPACE":             `\s*`,
	"DATA":              `.*?`,
	"GREEDYDATA":        `.*`,
	"QUOTEDSTRING":      `"(?:[^"\\]|\\.)*"`,
	"QS":                `%{QUOTEDSTRING}`,
	"UUID":              `[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}`,
	"IPV4":              `(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`,
	"IPV6":              `(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|%{IPV4})?`,
	"IP":                `(?:%{IPV4}|%{IPV6})`,
	"HOSTNAME":          `\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?\b`,
	"IPORHOST":          `(?:%{IP}|%{HOSTNAME})`,
	"TIMESTAMP_ISO8601": `\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z| ?[+-]\d\d(?::?\d\d)?)?`,
	"HTTPDATE":          `\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}`,
	"SYSLOGTIMESTAMP":   `[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?`,
	"LOGLEVEL":          `\b(?i:trace|debug|info|notice|warn(?:ing)?|err(?:or)?|crit(?:ical)?|fatal|severe|emerg(?:ency)?|alert|panic)\b`,
}

// Patterns lists the names of the built-in patterns, for documentation and
// error messages.
func Patterns() []string {
	return slices.Sorted(maps.Keys(builtins))
}

// grokRef is %{NAME}, %{NAME:field} or %{NAME:field:type}, type being int or float.
var grokRef = regexp.MustCompile(`%\{(\w+)(?::([^:}]+))?(?::(\w+))?\}`)

// pattern is a compiled regex format.
type pattern struct {
	re *regexp.Regexp
	// groups[i] says what to do with submatch i (nil: not a field).
	groups []*group
}

type group struct {
	field   string
	convert string // "", "int" or "float"
	unquote bool   // %{QS:x}: the field is the string inside the quotes
}

// genPrefix names the groups that %{NAME:field} generates; Go group names
// cannot hold the dots of ECS names, so the field is kept aside.
const genPrefix = "__"

func compilePattern(src string) (*pattern, error) {
	var gen []*group
	expanded, err := expand(src, 0, &gen)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(expanded)
	if err != nil {
		return nil, err
	}
	p := &pattern{re: re, groups: make([]*group, re.NumSubexp()+1)}
	for i, name := range re.SubexpNames() {
		switch {
		case name == "":
		case strings.HasPrefix(name, genPrefix):
			n, err := strconv.Atoi(name[len(genPrefix):])
			if err != nil || n >= len(gen) {
				return nil, fmt.Errorf("group names starting with %q are reserved", genPrefix)
			}
			p.groups[i] = gen[n]
		default:
			p.groups[i] = &group{field: fieldName(name)}
		}
	}
	for _, g := range p.groups {
		if g != nil {
			return p, nil
		}
	}
	return nil, errors.New("no named group or %{NAME:field}: nothing to extract")
}

// expand replaces the %{…} references in src; gen collects the fields of
// the groups it generates.
func expand(src string, depth int, gen *[]*group) (string, error) {
	if depth > 8 {
		return "", errors.New("built-in patterns nest too deep")
	}
	var err error
	out := grokRef.ReplaceAllStringFunc(src, func(m string) string {
		sub := grokRef.FindStringSubmatch(m)
		name, field, conv := sub[1], sub[2], sub[3]
		def, ok := builtins[name]
		if !ok {
			err = fmt.Errorf("unknown pattern %%{%s}; built-in: %s", name, strings.Join(Patterns(), ", "))
			return ""
		}
		if conv != "" && conv != "int" && conv != "float" {
			err = fmt.Errorf("%s: type %q is not int or float", m, conv)
			return ""
		}
		inner, e := expand(def, depth+1, gen)
		if e != nil {
			err = e
			return ""
		}
		if field == "" {
			return "(?:" + inner + ")"
		}
		*gen = append(*gen, &group{field: fieldName(field), convert: conv, unquote: name == "QS" || name == "QUOTEDSTRING"})
		return fmt.Sprintf("(?P<%s%d>%s)", genPrefix, len(*gen)-1, inner)
	})
	return out, err
}

// mustExpand expands built-in patterns without fields, for this package's own
// regexps.
func mustExpand(src string) string {
	s, err := expand(src, 0, new([]*group))
	if err != nil {
		panic(err)
	}
	return s
}

func parseRegex(p *Parser, s string, ref time.Time, r *record) error {
	m := p.regex.re.FindStringSubmatchIndex(s)
	if m == nil {
		return errors.New("regex: the line does not match the pattern")
	}
	fields := make(map[string]*structpb.Value, len(p.regex.groups))
	for i, g := range p.regex.groups {
		if g == nil || m[2*i] < 0 {
			continue
		}
		v := s[m[2*i]:m[2*i+1]]
		if g.unquote && len(v) >= 2 {
			v = unescape(v[1 : len(v)-1])
		}
		if v != "" {
			fields[g.field] = g.value(v)
		}
	}
	p.mapKeyed(r, fields, "regex", ref)
	return nil
}

func (g *group) value(s string) *structpb.Value {
	switch g.convert {
	case "int":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return structpb.NewNumberValue(float64(n))
		}
	case "float":
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return structpb.NewNumberValue(f)
		}
	}
	return structpb.NewStringValue(s)
}
