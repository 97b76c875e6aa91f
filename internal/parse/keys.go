package parse

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// keyMap says where the keyed formats (json, logfmt, regex) find the
// event's own fields, each list in order of preference, and how a level
// value reads.
type keyMap struct {
	message, level, service, host, time []string
	levelOf                             func(*structpb.Value) string
}

// defaultKeys are the common spellings, tried when no preset is named.
var defaultKeys = keyMap{
	message: []string{"message", "msg", "log", "fields.message"},
	level:   []string{"level", "log.level", "lvl", "severity", "loglevel"},
	service: []string{"service", "service.name", "app"},
	host:    []string{"host", "hostname", "host.name"},
	time:    []string{"@timestamp", "timestamp", "time", "ts"},
	levelOf: levelOf,
}

// presets are the key mappings of known writers, as their JSON looks once
// nested objects are flattened to dotted keys.
var presets = map[string]keyMap{
	// journalctl -o json: PRIORITY is the syslog severity, times are
	// microseconds since the epoch.
	"journald": {
		message: []string{"MESSAGE"}, level: []string{"PRIORITY"},
		service: []string{"SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "_COMM"}, host: []string{"_HOSTNAME"},
		time: []string{"_SOURCE_REALTIME_TIMESTAMP", "__REALTIME_TIMESTAMP"}, levelOf: syslogLevel,
	},
	// OpenTelemetry log records (OTLP/JSON, the file exporter's lines).
	"otel": {
		message: []string{"body.stringValue", "body"}, level: []string{"severityText", "severityNumber"},
		service: []string{"resource.service.name", "service.name"}, host: []string{"resource.host.name", "host.name"},
		time: []string{"timeUnixNano", "observedTimeUnixNano"}, levelOf: otelLevel,
	},
	// bunyan and pino: numeric levels (10 trace … 60 fatal), name is the
	// logger's (the service's) name.
	"bunyan": {
		message: []string{"msg"}, level: []string{"level"}, service: []string{"name"}, host: []string{"hostname"},
		time: []string{"time"}, levelOf: levelOf,
	},
	"pino": {
		message: []string{"msg"}, level: []string{"level"}, service: []string{"name"}, host: []string{"hostname"},
		time: []string{"time"}, levelOf: levelOf,
	},
	// Elastic Common Schema loggers (ecs-logging).
	"ecs": {
		message: []string{"message"}, level: []string{"log.level"}, service: []string{"service.name"}, host: []string{"host.name", "host.hostname"},
		time: []string{"@timestamp"}, levelOf: levelOf,
	},
	"logrus": {
		message: []string{"msg"}, level: []string{"level"}, service: []string{"service"}, host: []string{"host", "hostname"},
		time: []string{"time"}, levelOf: levelOf,
	},
	"zap": {
		message: []string{"msg"}, level: []string{"level"}, service: []string{"logger", "service"}, host: []string{"host", "hostname"},
		time: []string{"ts"}, levelOf: levelOf,
	},
	"slog": {
		message: []string{"msg"}, level: []string{"level"}, service: []string{"service"}, host: []string{"host", "hostname"},
		time: []string{"time"}, levelOf: levelOf,
	},
}

// MaxFieldPath bounds message_field, level_field, service_field and
// timestamp_field.
const MaxFieldPath = 256

// keysOf builds a dataset's key mapping: its preset (or the defaults), with
// the explicitly named fields tried first.
func keysOf(c *routingv1.Parser) (keyMap, error) {
	k := defaultKeys
	if name := c.GetPreset(); name != "" {
		var ok bool
		if k, ok = presets[name]; !ok {
			return k, &ConfigError{"preset", fmt.Errorf("unknown preset %q; known: %s", clip(name), strings.Join(slices.Sorted(maps.Keys(presets)), ", "))}
		}
	}
	for _, f := range []struct {
		name, value string
		keys        *[]string
	}{
		{"message_field", c.GetMessageField(), &k.message},
		{"level_field", c.GetLevelField(), &k.level},
		{"service_field", c.GetServiceField(), &k.service},
		{"timestamp_field", c.GetTimestampField(), &k.time},
	} {
		if f.value == "" {
			continue
		}
		if len(f.value) > MaxFieldPath || strings.TrimSpace(f.value) != f.value {
			return k, &ConfigError{f.name, fmt.Errorf("a dotted field path of at most %d bytes without surrounding spaces", MaxFieldPath)}
		}
		if f.name == "timestamp_field" {
			*f.keys = []string{f.value} // as before: the configured field only
			continue
		}
		*f.keys = append([]string{f.value}, *f.keys...)
	}
	return k, nil
}

// syslogLevel reads a syslog severity number (journald's PRIORITY, a string).
func syslogLevel(v *structpb.Value) string {
	n := -1
	switch k := v.Kind.(type) {
	case *structpb.Value_StringValue:
		n, _ = strconv.Atoi(k.StringValue)
		if k.StringValue == "" {
			n = -1
		}
	case *structpb.Value_NumberValue:
		n = int(k.NumberValue)
	}
	if n < 0 || n >= len(levels) {
		return levelOf(v)
	}
	return levels[n]
}

// otelLevel reads severityText, or severityNumber (1-4 trace, 5-8 debug,
// 9-12 info, 13-16 warn, 17-20 error, 21-24 fatal).
func otelLevel(v *structpb.Value) string {
	if k, ok := v.Kind.(*structpb.Value_NumberValue); ok {
		if n := int(k.NumberValue); n >= 1 && n <= 24 {
			return [...]string{"trace", "debug", "info", "warn", "error", "fatal"}[(n-1)/4]
		}
		return ""
	}
	return levelOf(v)
}

// extraFieldsOf reads extra_fields: "name" or "name:type".
func extraFieldsOf(names []string) ([]*group, error) {
	if len(names) > MaxPatterns {
		return nil, &ConfigError{"extra_fields", fmt.Errorf("at most %d names; got %d", MaxPatterns, len(names))}
	}
	out := make([]*group, len(names))
	for i, n := range names {
		name, conv, _ := strings.Cut(n, ":")
		switch conv {
		case "", "int", "long", "float", "bool":
		default:
			return nil, &ConfigError{fmt.Sprintf("extra_fields[%d]", i), fmt.Errorf("type %q is not int, long, float or bool", clip(conv))}
		}
		if name == "" || len(name) > MaxFieldPath || strings.ContainsAny(name, " \"[]{}") || owned(name) {
			return nil, &ConfigError{fmt.Sprintf("extra_fields[%d]", i), fmt.Errorf("%q is not a field name the event model leaves free", clip(name))}
		}
		out[i] = &group{field: fieldName(name), convert: conv}
	}
	return out, nil
}
