package parse

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// parseJSON reads one JSON object. Nested objects become dotted keys
// ({"http":{"method":"GET"}} → "http.method"), so that the keys the event
// model maps are found wherever the writer nested them.
func parseJSON(p *Parser, s string, ref time.Time, r *record) error {
	if !strings.HasPrefix(strings.TrimLeft(s, " \t"), "{") {
		return errors.New("json: not an object")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber() // epoch times keep their digits
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if rest := strings.TrimSpace(s[dec.InputOffset():]); rest != "" {
		return errors.New("json: data after the object")
	}
	flat := make(map[string]*structpb.Value, len(obj))
	flatten(flat, "", obj)
	p.timeFromDigits(r, flat, obj, ref)
	p.mapKeyed(r, flat, "json", ref)
	return nil
}

// timeFromDigits reads the event time from the first time field present when
// it is a JSON number, from its digits rather than its float value, so that
// epoch nanoseconds stay exact. Other times are left to mapKeyed.
func (p *Parser) timeFromDigits(r *record, flat map[string]*structpb.Value, obj map[string]any, ref time.Time) {
	for _, k := range p.keys.time {
		v, ok := obj[k]
		if !ok {
			continue
		}
		if n, ok := v.(json.Number); ok {
			if t, ok := p.times.parse(n.String(), ref); ok {
				r.time = t
				delete(flat, k)
			}
		}
		return
	}
}

// flatten adds obj's leaves to flat under prefix. When a literal "a.b" and a
// nested {"a":{"b":…}} meet, keys are visited in order so that every run
// keeps the same one; without dotted keys they cannot meet, and sorting is
// skipped (it is a tenth of the parse).
func flatten(flat map[string]*structpb.Value, prefix string, obj map[string]any) {
	keys := make([]string, 0, len(obj))
	dotted := false
	for k := range obj {
		keys = append(keys, k)
		dotted = dotted || k == "" || strings.IndexByte(k, '.') >= 0
	}
	if dotted {
		slices.Sort(keys)
	}
	for _, k := range keys {
		name := fieldName(prefix + k)
		if sub, ok := obj[k].(map[string]any); ok && len(sub) > 0 {
			flatten(flat, name+".", sub)
			continue
		}
		flat[name] = jsonValue(obj[k])
	}
}

// jsonValue converts a decoded JSON value; objects inside arrays stay objects.
func jsonValue(v any) *structpb.Value {
	switch v := v.(type) {
	case nil:
		return structpb.NewNullValue()
	case bool:
		return structpb.NewBoolValue(v)
	case string:
		return structpb.NewStringValue(v)
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil { // out of float64's range
			return structpb.NewStringValue(string(v))
		}
		return structpb.NewNumberValue(f)
	case []any:
		l := make([]*structpb.Value, len(v))
		for i, e := range v {
			l[i] = jsonValue(e)
		}
		return structpb.NewListValue(&structpb.ListValue{Values: l})
	case map[string]any:
		s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(v))}
		for k, e := range v {
			s.Fields[fieldName(k)] = jsonValue(e)
		}
		return structpb.NewStructValue(s)
	}
	return structpb.NewStringValue(fmt.Sprint(v))
}
