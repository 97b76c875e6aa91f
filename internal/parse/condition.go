package parse

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Condition is a compiled routingv1.Condition on an event's field: what
// routes and processor steps test.
type Condition struct {
	field string
	op    routingv1.Condition_Op
	value string
	re    *regexp.Regexp
}

// CompileCondition compiles c (its regexp, for OP_MATCHES). Errors are
// *ConfigError naming the condition's field.
func CompileCondition(c *routingv1.Condition) (*Condition, error) {
	cc := &Condition{field: c.GetField(), op: c.GetOp(), value: c.GetValue()}
	if _, ok := routingv1.Condition_Op_name[int32(cc.op)]; !ok || cc.op == routingv1.Condition_OP_UNSPECIFIED {
		return nil, &ConfigError{"op", errors.New("must be one of OP_EQUALS, OP_NOT_EQUALS, OP_EXISTS, OP_MATCHES")}
	}
	if cc.field == "" || len(cc.field) > MaxFieldPath {
		return nil, &ConfigError{"field", fmt.Errorf("a field name of 1 to %d bytes", MaxFieldPath)}
	}
	if c.GetOp() == routingv1.Condition_OP_MATCHES {
		if len(c.GetValue()) > MaxPatternLen {
			return nil, &ConfigError{"value", fmt.Errorf("at most %d bytes", MaxPatternLen)}
		}
		re, err := regexp.Compile(c.GetValue())
		if err != nil {
			return nil, &ConfigError{"value", compileError(err, c.GetValue())}
		}
		cc.re = re
	}
	return cc, nil
}

// Holds reports whether the condition holds for e.
func (c *Condition) Holds(e *eventv1.Event) bool {
	vals := Values(e, c.field)
	switch c.op {
	case routingv1.Condition_OP_EXISTS:
		return len(vals) > 0
	case routingv1.Condition_OP_EQUALS:
		return slices.Contains(vals, c.value)
	case routingv1.Condition_OP_NOT_EQUALS:
		return !slices.Contains(vals, c.value)
	case routingv1.Condition_OP_MATCHES:
		return slices.ContainsFunc(vals, c.re.MatchString)
	}
	return false
}

// Values are the string forms of an event's field, by its name in the
// event document ("log.level", "labels.env", "http.response.status_code");
// a list gives each element. Absent or null fields give none.
func Values(e *eventv1.Event, field string) []string {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	switch field {
	case "message":
		return one(e.GetMessage())
	case "log.level":
		return one(e.GetLevel())
	case "service.name":
		return one(e.GetService())
	case "data_stream.dataset":
		return one(e.GetDataset())
	case "host.name":
		return one(e.GetSource().GetHost())
	case "log.file.path":
		return one(e.GetSource().GetFilePath())
	case "tags":
		return e.GetTags()
	}
	if k, ok := strings.CutPrefix(field, "labels."); ok {
		if v, ok := e.GetLabels()[k]; ok {
			return []string{v}
		}
		return nil
	}
	v, ok := e.GetFields().GetFields()[field]
	if !ok {
		return nil
	}
	if l := v.GetListValue(); l != nil {
		var out []string
		for _, x := range l.GetValues() {
			out = append(out, str(x)...)
		}
		return out
	}
	return str(v)
}

func str(v *structpb.Value) []string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return []string{k.StringValue}
	case *structpb.Value_NumberValue:
		return []string{strconv.FormatFloat(k.NumberValue, 'f', -1, 64)}
	case *structpb.Value_BoolValue:
		return []string{strconv.FormatBool(k.BoolValue)}
	}
	return nil
}
