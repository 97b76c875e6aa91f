package parse

import (
	"testing"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func TestJSONPresets(t *testing.T) {
	json := routingv1.Parser_FORMAT_JSON
	for _, c := range []struct {
		preset string
		cfg    *routingv1.Parser
		line   string
		want   want
	}{{
		preset: "journald",
		line:   `{"__REALTIME_TIMESTAMP":"1445444940123456","PRIORITY":"3","MESSAGE":"Failed to start nginx.service.","SYSLOG_IDENTIFIER":"systemd","_HOSTNAME":"web-1","_PID":"1"}`,
		want:   want{message: "Failed to start nginx.service.", time: "2015-10-21T16:29:00.123456Z", level: "error", service: "systemd", fields: map[string]any{"host.hostname": "web-1", "_PID": "1"}},
	}, {
		preset: "otel",
		line:   `{"timeUnixNano":"1445444940000000001","severityNumber":17,"body":{"stringValue":"payment failed"},"resource":{"service.name":"billing"},"traceId":"5b8efff798038103d269b633813fc60c"}`,
		want:   want{message: "payment failed", time: "2015-10-21T16:29:00.000000001Z", level: "error", service: "billing", fields: map[string]any{"traceId": "5b8efff798038103d269b633813fc60c"}},
	}, {
		preset: "pino",
		line:   `{"level":30,"time":1445444940123,"pid":12,"hostname":"api-7","name":"orders","msg":"request completed"}`,
		want:   want{message: "request completed", time: "2015-10-21T16:29:00.123Z", level: "info", service: "orders", fields: map[string]any{"host.hostname": "api-7", "pid": 12}},
	}, {
		preset: "bunyan",
		line:   `{"name":"myapp","hostname":"banana.local","pid":40161,"level":50,"msg":"boom","time":"2015-10-21T16:29:00.000Z","v":0}`,
		want:   want{message: "boom", time: "2015-10-21T16:29:00Z", level: "error", service: "myapp", fields: map[string]any{"host.hostname": "banana.local", "pid": 40161, "v": 0}},
	}, {
		preset: "ecs",
		line:   `{"@timestamp":"2015-10-21T16:29:00.000Z","log.level":"WARN","message":"disk full","service.name":"db","ecs.version":"1.6.0"}`,
		want:   want{message: "disk full", time: "2015-10-21T16:29:00Z", level: "warn", service: "db", fields: map[string]any{"ecs.version": "1.6.0"}},
	}, {
		preset: "zap",
		line:   `{"level":"info","ts":1445444940.5,"logger":"http","caller":"server/main.go:42","msg":"listening"}`,
		want:   want{message: "listening", time: "2015-10-21T16:29:00.5Z", level: "info", service: "http", fields: map[string]any{"caller": "server/main.go:42"}},
	}, {
		preset: "slog",
		line:   `{"time":"2015-10-21T16:29:00.123+02:00","level":"WARN","msg":"slow","duration":1.5}`,
		want:   want{message: "slow", time: "2015-10-21T14:29:00.123Z", level: "warn", fields: map[string]any{"duration": 1.5}},
	}, {
		preset: "logrus",
		line:   `{"level":"warning","msg":"The group's number increased tremendously!","number":122,"omg":true,"time":"2015-10-21T16:29:00Z"}`,
		want:   want{message: "The group's number increased tremendously!", time: "2015-10-21T16:29:00Z", level: "warning", fields: map[string]any{"number": 122, "omg": true}},
	}, {
		preset: "explicit paths (Rust tracing)",
		cfg:    &routingv1.Parser{Format: json, MessageField: "fields.message", LevelField: "level", ServiceField: "target"},
		line:   `{"timestamp":"2015-10-21T16:29:00.000001Z","level":"INFO","fields":{"message":"accepted","peer":"10.0.0.1"},"target":"server::conn"}`,
		want:   want{message: "accepted", time: "2015-10-21T16:29:00.000001Z", level: "info", service: "server::conn", fields: map[string]any{"fields.peer": "10.0.0.1"}},
	}} {
		t.Run(c.preset, func(t *testing.T) {
			cfg := c.cfg
			if cfg == nil {
				cfg = &routingv1.Parser{Format: json, Preset: c.preset}
			}
			run(t, cfg, []lineCase{{name: "line", line: c.line, want: c.want}})
		})
	}
}

func TestEnvelopes(t *testing.T) {
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON, Envelope: routingv1.Parser_ENVELOPE_AUTO}, []lineCase{{
		name: "docker json-file around a JSON line",
		line: `{"log":"{\"level\":\"error\",\"msg\":\"boom\"}\n","stream":"stderr","time":"2015-10-21T16:29:00.000000001Z"}`,
		want: want{message: "boom", level: "error", time: "2015-10-21T16:29:00.000000001Z", tags: fallback, fields: map[string]any{"log.iostream": "stderr"}},
	}, {
		name: "CRI around a JSON line with its own time",
		line: `2015-10-21T16:29:05.5Z stdout F {"time":"2015-10-21T16:29:00Z","msg":"hi"}`,
		want: want{message: "hi", time: "2015-10-21T16:29:00Z", fields: map[string]any{"log.iostream": "stdout"}},
	}, {
		name: "CRI partial line",
		line: `2015-10-21T16:29:05.5Z stdout P {"msg":"hi`,
		want: want{message: `{"msg":"hi`, time: "2015-10-21T16:29:05.5Z", tags: []string{TagPartial, TagParseFailure, TagTimestampFallback},
			fields: map[string]any{"log.iostream": "stdout", "error.message": "json: unexpected EOF"}},
	}})
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_COMBINED, Envelope: routingv1.Parser_ENVELOPE_DOCKER, ExtraFields: []string{"request_time:float", "upstream"}}, []lineCase{{
		name: "docker around nginx with named extra fields",
		line: `{"log":"10.0.0.1 - - [21/Oct/2015:16:29:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8.0\" 0.003 \"10.0.0.9:80\" tail\n","stream":"stdout","time":"2015-10-21T16:29:00.1Z"}`,
		want: want{message: `10.0.0.1 - - [21/Oct/2015:16:29:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.0" 0.003 "10.0.0.9:80" tail`, time: "2015-10-21T16:29:00Z", fields: map[string]any{
			"log.iostream": "stdout", "source.address": "10.0.0.1", "http.request.method": "GET", "url.original": "/", "http.version": "1.1",
			"http.response.status_code": 200, "http.response.body.bytes": 5, "user_agent.original": "curl/8.0",
			"request_time": 0.003, "upstream": "10.0.0.9:80", "access_log.extra": []any{"tail"},
		}},
	}})
}
