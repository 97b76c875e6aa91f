package parse

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// The processor stage: a dataset's small list of steps (rename, remove,
// copy, set, lowercase, map values, drop), applied in order to each parsed
// event once the router has set its source, dataset and labels, so that
// conditions may test those too.

// MaxProcessors bounds a dataset's steps; MaxMapping a step's mapping.
const (
	MaxProcessors = 64
	MaxMapping    = 1024
)

type step struct {
	op        routingv1.Processor_Op
	field, to string
	value     string
	mapping   map[string]string
	when      *Condition
}

// StepName is how counters name a step: its position and operation, e.g.
// "0:rename".
func (p *Parser) StepName(i int) string {
	return fmt.Sprintf("%d:%s", i, strings.ToLower(strings.TrimPrefix(p.steps[i].op.String(), "OP_")))
}

// Steps is the number of processor steps.
func (p *Parser) Steps() int { return len(p.steps) }

func stepsOf(ps []*routingv1.Processor) ([]step, error) {
	if len(ps) > MaxProcessors {
		return nil, &ConfigError{"processors", fmt.Errorf("at most %d steps; got %d", MaxProcessors, len(ps))}
	}
	out := make([]step, len(ps))
	for i, c := range ps {
		at := fmt.Sprintf("processors[%d]", i)
		s := step{op: c.GetOp(), field: c.GetField(), to: c.GetTo(), value: c.GetValue(), mapping: c.GetMapping()}
		needTo := s.op == routingv1.Processor_OP_RENAME || s.op == routingv1.Processor_OP_COPY
		switch s.op {
		case routingv1.Processor_OP_RENAME, routingv1.Processor_OP_REMOVE, routingv1.Processor_OP_COPY,
			routingv1.Processor_OP_SET, routingv1.Processor_OP_LOWERCASE, routingv1.Processor_OP_MAP:
			if err := checkStepField(s.field); err != nil {
				return nil, &ConfigError{at + ".field", err}
			}
		case routingv1.Processor_OP_DROP:
			if c.GetWhen() == nil {
				return nil, &ConfigError{at + ".when", errors.New("required by OP_DROP: dropping every event is not a processor")}
			}
		default:
			return nil, &ConfigError{at + ".op", errors.New("must be OP_RENAME, OP_REMOVE, OP_COPY, OP_SET, OP_LOWERCASE, OP_MAP or OP_DROP")}
		}
		if needTo {
			if err := checkStepField(s.to); err != nil {
				return nil, &ConfigError{at + ".to", err}
			}
		} else if s.to != "" {
			return nil, &ConfigError{at + ".to", fmt.Errorf("only OP_RENAME and OP_COPY take a target")}
		}
		if s.op == routingv1.Processor_OP_MAP && len(s.mapping) == 0 {
			return nil, &ConfigError{at + ".mapping", errors.New("required by OP_MAP")}
		}
		if len(s.mapping) > MaxMapping {
			return nil, &ConfigError{at + ".mapping", fmt.Errorf("at most %d entries", MaxMapping)}
		}
		if len(s.value) > MaxPatternLen {
			return nil, &ConfigError{at + ".value", fmt.Errorf("at most %d bytes", MaxPatternLen)}
		}
		if w := c.GetWhen(); w != nil {
			cond, err := CompileCondition(w)
			if err != nil {
				ce := err.(*ConfigError)
				return nil, &ConfigError{at + ".when." + ce.Field, ce.Err}
			}
			s.when = cond
		}
		out[i] = s
	}
	return out, nil
}

// checkStepField: a step may write a parsed field or the event's message,
// level or service, never the fields the router owns (id, time, source…).
func checkStepField(f string) error {
	switch {
	case f == "" || len(f) > MaxFieldPath:
		return fmt.Errorf("required: a field name of at most %d bytes", MaxFieldPath)
	case f == "message" || f == "log.level" || f == "service.name":
		return nil
	case owned(f) || fieldName(f) != f:
		return fmt.Errorf("%q belongs to the event model; a step may write message, log.level, service.name or parsed fields", clip(f))
	}
	return nil
}

// Process applies the processor steps to e in order; count, when not nil,
// hears of each step that ran. It returns false when a step drops e.
func (p *Parser) Process(e *eventv1.Event, count func(step int)) bool {
	for i := range p.steps {
		s := &p.steps[i]
		if s.when != nil && !s.when.Holds(e) {
			continue
		}
		if s.op == routingv1.Processor_OP_DROP {
			if count != nil {
				count(i)
			}
			return false
		}
		if s.apply(e) && count != nil {
			count(i)
		}
	}
	return true
}

// apply runs one step; it reports whether the step changed e.
func (s *step) apply(e *eventv1.Event) bool {
	v, ok := getField(e, s.field)
	switch s.op {
	case routingv1.Processor_OP_SET:
		setField(e, s.field, structpb.NewStringValue(s.value))
		return true
	case routingv1.Processor_OP_RENAME:
		if ok {
			deleteField(e, s.field)
			setField(e, s.to, v)
		}
	case routingv1.Processor_OP_COPY:
		if ok {
			setField(e, s.to, proto.Clone(v).(*structpb.Value))
		}
	case routingv1.Processor_OP_REMOVE:
		if ok {
			deleteField(e, s.field)
		}
	case routingv1.Processor_OP_LOWERCASE:
		if sv, isStr := v.GetKind().(*structpb.Value_StringValue); ok && isStr {
			setField(e, s.field, structpb.NewStringValue(strings.ToLower(sv.StringValue)))
		}
	case routingv1.Processor_OP_MAP:
		if vals := str(v); ok && len(vals) == 1 {
			if m, found := s.mapping[vals[0]]; found {
				setField(e, s.field, structpb.NewStringValue(m))
				return true
			}
		}
		return false
	}
	return ok
}

func getField(e *eventv1.Event, f string) (*structpb.Value, bool) {
	own := func(s string) (*structpb.Value, bool) { return structpb.NewStringValue(s), s != "" }
	switch f {
	case "message":
		return own(e.GetMessage())
	case "log.level":
		return own(e.GetLevel())
	case "service.name":
		return own(e.GetService())
	}
	v, ok := e.GetFields().GetFields()[f]
	return v, ok
}

func setField(e *eventv1.Event, f string, v *structpb.Value) {
	s := ""
	if vals := str(v); len(vals) == 1 {
		s = vals[0]
	}
	switch f {
	case "message":
		e.Message = s
	case "log.level":
		e.Level = s
	case "service.name":
		e.Service = s
	default:
		if e.Fields == nil {
			e.Fields = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		}
		e.Fields.Fields[f] = v
	}
}

func deleteField(e *eventv1.Event, f string) {
	switch f {
	case "message":
		e.Message = ""
	case "log.level":
		e.Level = ""
	case "service.name":
		e.Service = ""
	default:
		delete(e.GetFields().GetFields(), f)
	}
}
