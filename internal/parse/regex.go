package parse

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// pattern is one compiled alternative of the regex format.
type pattern struct {
	re *regexp.Regexp
	// groups[i] says what to do with submatch i (nil: not a field).
	groups []*group
}

type group struct {
	field   string
	convert string // "", "int", "long", "float" or "bool"
	unquote bool   // %{QS:x}: the field is the string inside the quotes
}

// compilePatterns compiles the regex format's alternatives: pattern, then
// patterns, in order.
func compilePatterns(c *routingv1.Parser) ([]*pattern, error) {
	g, err := newGrok(c.GetPatternDefinitions())
	if err != nil {
		return nil, err
	}
	type alt struct{ field, src string }
	var alts []alt
	if c.GetPattern() != "" {
		alts = append(alts, alt{"pattern", c.GetPattern()})
	}
	for i, s := range c.GetPatterns() {
		alts = append(alts, alt{fmt.Sprintf("patterns[%d]", i), s})
	}
	if len(alts) == 0 {
		return nil, &ConfigError{"pattern", errors.New("required by the regex format (or patterns)")}
	}
	if len(alts) > MaxPatterns {
		return nil, &ConfigError{"patterns", fmt.Errorf("at most %d alternatives; got %d", MaxPatterns, len(alts))}
	}
	out := make([]*pattern, len(alts))
	for i, a := range alts {
		p, err := g.compile(a.src, false)
		if err != nil {
			return nil, &ConfigError{a.field, err}
		}
		if !p.extracts() {
			return nil, &ConfigError{a.field, errors.New("no named group or %{NAME:field}: nothing to extract")}
		}
		out[i] = p
	}
	return out, nil
}

func (p *pattern) extracts() bool {
	for _, g := range p.groups {
		if g != nil {
			return true
		}
	}
	return false
}

func parseRegex(p *Parser, s string, ref time.Time, r *record) error {
	for _, pat := range p.regex {
		m := pat.re.FindStringSubmatchIndex(s)
		if m == nil {
			continue
		}
		fields := r.keyedMap(len(pat.groups))
		for i, g := range pat.groups {
			if g == nil || m[2*i] < 0 {
				continue
			}
			v := s[m[2*i]:m[2*i+1]]
			if g.unquote && len(v) >= 2 {
				v = r.unescape(v[1 : len(v)-1])
			}
			if v != "" {
				fields[g.field] = g.value(r, v)
			}
		}
		p.mapKeyed(r, fields, "regex", ref)
		return nil
	}
	if len(p.regex) == 1 {
		return errors.New("regex: the line does not match the pattern")
	}
	return fmt.Errorf("regex: the line matches none of the %d patterns", len(p.regex))
}

// value converts a captured string as the reference's type says; a value
// that does not convert is kept as the string.
func (g *group) value(r *record, s string) *structpb.Value {
	switch g.convert {
	case "int", "long":
		// Numbers are float64 in the event model: a long beyond 2^53 keeps
		// its digits as a string rather than losing them.
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= -1<<53 && n <= 1<<53 {
			return r.num(float64(n))
		}
	case "float":
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return r.num(f)
		}
	case "bool":
		if b, err := strconv.ParseBool(s); err == nil {
			return structpb.NewBoolValue(b)
		}
	}
	return r.str(s)
}
