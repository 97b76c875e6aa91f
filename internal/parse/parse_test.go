package parse

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// readTime is when the test lines were "read": the fallback time, and the
// reference for years syslog leaves out.
var readTime = time.Date(2015, 10, 22, 8, 0, 0, 0, time.UTC)

type want struct {
	message string // "" means the line itself
	time    string // RFC 3339; "" means the fallback (readTime)
	level   string
	service string
	fields  map[string]any
	tags    []string
}

type lineCase struct {
	name string
	line string
	want want
}

func run(t *testing.T, cfg *routingv1.Parser, cases []lineCase) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := p.Parse(Input{Line: []byte(c.line), ReadTime: readTime})
			w := c.want
			if w.message == "" {
				w.message = c.line
			}
			if e.Message != w.message {
				t.Errorf("message = %q, want %q", e.Message, w.message)
			}
			wantTime := readTime
			if w.time != "" {
				wantTime, err = time.Parse(time.RFC3339Nano, w.time)
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := e.Timestamp.AsTime(); !got.Equal(wantTime) {
				t.Errorf("@timestamp = %s, want %s", got.Format(time.RFC3339Nano), wantTime.Format(time.RFC3339Nano))
			}
			if e.Level != w.level {
				t.Errorf("level = %q, want %q", e.Level, w.level)
			}
			if e.Service != w.service {
				t.Errorf("service = %q, want %q", e.Service, w.service)
			}
			wantFields, err := structpb.NewStruct(w.fields)
			if err != nil {
				t.Fatal(err)
			}
			gotFields := e.Fields
			if gotFields == nil {
				gotFields = &structpb.Struct{}
			}
			if wantFields.Fields == nil {
				wantFields.Fields = map[string]*structpb.Value{}
			}
			if !proto.Equal(gotFields, wantFields) {
				t.Errorf("fields:\n got %v\nwant %v", gotFields.AsMap(), w.fields)
			}
			if !slices.Equal(e.Tags, w.tags) {
				t.Errorf("tags = %q, want %q", e.Tags, w.tags)
			}
		})
	}
}

var fallback = []string{TagTimestampFallback}

func TestJSON(t *testing.T) {
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON}, []lineCase{{
		name: "go slog",
		line: `{"time":"2015-10-21T16:29:00.123456789+02:00","level":"ERROR","msg":"payment failed","service":"billing","order_id":1234,"err":"card declined","http":{"method":"POST","status":502}}`,
		want: want{
			message: "payment failed", time: "2015-10-21T14:29:00.123456789Z", level: "error", service: "billing",
			fields: map[string]any{"order_id": 1234, "err": "card declined", "http.method": "POST", "http.status": 502},
		},
	}, {
		name: "zap, epoch seconds with fraction",
		line: `{"level":"info","ts":1445444940.5,"caller":"server/main.go:42","msg":"listening","addr":":8080","host":"web-1"}`,
		want: want{
			message: "listening", time: "2015-10-21T16:29:00.5Z", level: "info",
			fields: map[string]any{"caller": "server/main.go:42", "addr": ":8080", "host.hostname": "web-1"},
		},
	}, {
		name: "pino, epoch milliseconds and numeric level",
		line: `{"level":30,"time":1445444940123,"pid":12,"hostname":"api-7","msg":"request completed","res":{"statusCode":200},"responseTime":12}`,
		want: want{
			message: "request completed", time: "2015-10-21T16:29:00.123Z", level: "info",
			fields: map[string]any{"pid": 12, "host.hostname": "api-7", "res.statusCode": 200, "responseTime": 12},
		},
	}, {
		name: "epoch nanoseconds stay exact",
		line: `{"ts":1445444940123456789,"msg":"x"}`,
		want: want{message: "x", time: "2015-10-21T16:29:00.123456789Z"},
	}, {
		name: "docker json-file",
		line: `{"log":"GET /healthz 200\n","stream":"stdout","time":"2015-10-21T16:29:00.000000001Z"}`,
		want: want{message: "GET /healthz 200\n", time: "2015-10-21T16:29:00.000000001Z", fields: map[string]any{"stream": "stdout"}},
	}, {
		name: "ECS document: model-owned keys move under json.",
		line: `{"@timestamp":"2015-10-21T16:29:00Z","log.level":"warn","message":"disk 91% full","event":{"id":"abc","dataset":"db"},"host":{"name":"db-1"},"tags":["x"],"labels":{"team":"core"}}`,
		want: want{
			message: "disk 91% full", time: "2015-10-21T16:29:00Z", level: "warn",
			fields: map[string]any{
				"json.event.id": "abc", "event.dataset": "db", "host.hostname": "db-1",
				"json.tags": []any{"x"}, "json.labels.team": "core",
			},
		},
	}, {
		name: "empty key segments",
		line: `{"":1,"a..b":2,"c.":{"d":3},"msg":"m"}`,
		want: want{message: "m", fields: map[string]any{"_": 1, "a._.b": 2, "c._.d": 3}, tags: fallback},
	}, {
		name: "time that is not a time is kept and tagged",
		line: `{"time":"yesterday","msg":"m"}`,
		want: want{message: "m", fields: map[string]any{"time": "yesterday"}, tags: fallback},
	}, {
		name: "no message key: the line is the message",
		line: `{"ts":"2015-10-21T16:29:00Z","status":"ok","n":null,"ok":true}`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{"status": "ok", "n": nil, "ok": true}},
	}, {
		name: "unterminated",
		line: `{"msg": "payment failed`,
		want: want{fields: map[string]any{"error.message": "json: unexpected EOF"}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}, {
		name: "not an object",
		line: `[1,2]`,
		want: want{fields: map[string]any{"error.message": "json: not an object"}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}, {
		// Nested names repeat their prefixes: more text than the line
		// holds, so some are put together outside the line's buffer.
		name: "deep nesting with long names",
		line: `{"msg":"m","aaaaaaaaaaaaaaaaaaaa":{"bbbbbbbbbbbbbbbbbbbb":{"c":1,"d":"x","e":"y","f":"z","g":"w","h":"\u00e9"}}}`,
		want: want{message: "m", fields: map[string]any{
			"aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb.c": 1.0, "aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb.d": "x",
			"aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb.e": "y", "aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb.f": "z",
			"aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb.g": "w", "aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb.h": "é",
		}, tags: fallback},
	}, {
		name: "trailing data; the raw line's own time is still found",
		line: `2015-10-21T16:29:00Z {"a":1}`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{"error.message": "json: not an object"}, tags: []string{TagParseFailure}},
	}})
}

func TestJSONConfiguredTime(t *testing.T) {
	run(t, &routingv1.Parser{
		Format:          routingv1.Parser_FORMAT_JSON,
		TimestampField:  "when",
		TimestampLayout: "2006-01-02 15:04:05",
		Timezone:        "Europe/Paris",
	}, []lineCase{{
		name: "layout in zone",
		line: `{"when":"2015-10-21 16:29:00","time":"2001-01-01T00:00:00Z","msg":"m"}`,
		want: want{message: "m", time: "2015-10-21T14:29:00Z", fields: map[string]any{"time": "2001-01-01T00:00:00Z"}},
	}, {
		name: "other layout does not match",
		line: `{"when":"2015-10-21T16:29:00Z","msg":"m"}`,
		want: want{message: "m", fields: map[string]any{"when": "2015-10-21T16:29:00Z"}, tags: fallback},
	}})
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON, TimestampLayout: "UNIX_MS"}, []lineCase{{
		name: "unix ms as a string",
		line: `{"ts":"1445444940123","msg":"m"}`,
		want: want{message: "m", time: "2015-10-21T16:29:00.123Z"},
	}})
}

func TestLogfmt(t *testing.T) {
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_LOGFMT}, []lineCase{{
		name: "go-kit / prometheus",
		line: `ts=2015-10-21T16:29:00.123Z caller=compact.go:460 level=info component=tsdb msg="compact blocks" count=3 duration=1.234s`,
		want: want{
			message: "compact blocks", time: "2015-10-21T16:29:00.123Z", level: "info",
			fields: map[string]any{"caller": "compact.go:460", "component": "tsdb", "count": "3", "duration": "1.234s"},
		},
	}, {
		name: "escaped quotes, bare key, service and host",
		line: `time="2015-10-21 16:29:00" level=WARN service=api host=web-2 db.statement="SELECT * FROM users WHERE name = \"bob\"" slow`,
		want: want{
			time: "2015-10-21T16:29:00Z", level: "warn", service: "api",
			fields: map[string]any{"host.hostname": "web-2", "db.statement": `SELECT * FROM users WHERE name = "bob"`, "slow": "true"},
		},
	}, {
		name: "empty and unknown escapes",
		line: `msg="" path="C:\Temp" n=`,
		want: want{fields: map[string]any{"path": `C:\Temp`, "n": ""}, tags: fallback},
	}, {
		name: "plain text",
		line: `connection refused`,
		want: want{fields: map[string]any{"error.message": "logfmt: no key=value pair"}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}, {
		name: "unterminated quote",
		line: `msg="oops level=error`,
		want: want{fields: map[string]any{"error.message": "unterminated quoted string at byte 4"}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}})
}

func TestCombined(t *testing.T) {
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_COMBINED}, []lineCase{{
		name: "nginx combined",
		line: `203.0.113.7 - - [21/Oct/2015:16:29:00 +0200] "GET /api/users?page=2 HTTP/1.1" 200 1534 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"`,
		want: want{time: "2015-10-21T14:29:00Z", fields: map[string]any{
			"source.address": "203.0.113.7", "http.request.method": "GET", "url.original": "/api/users?page=2",
			"http.version": "1.1", "http.response.status_code": 200, "http.response.body.bytes": 1534,
			"http.request.referrer": "https://example.com/start", "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
		}},
	}, {
		name: "apache combined with user and escaped quotes",
		line: `192.0.2.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav) \"quoted\""`,
		want: want{time: "2000-10-10T20:55:36Z", fields: map[string]any{
			"source.address": "192.0.2.1", "user.name": "frank", "http.request.method": "GET", "url.original": "/apache_pb.gif",
			"http.version": "1.0", "http.response.status_code": 200, "http.response.body.bytes": 2326,
			"http.request.referrer": "http://www.example.com/start.html", "user_agent.original": `Mozilla/4.08 [en] (Win98; I ;Nav) "quoted"`,
		}},
	}, {
		name: "common log format, no body",
		line: `127.0.0.1 - - [21/Oct/2015:16:29:00 +0000] "POST /login HTTP/1.1" 302 -`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{
			"source.address": "127.0.0.1", "http.request.method": "POST", "url.original": "/login",
			"http.version": "1.1", "http.response.status_code": 302, "http.response.body.bytes": 0,
		}},
	}, {
		name: "nginx with x-forwarded-for and ipv6 client",
		line: `2001:db8::1 - - [21/Oct/2015:16:29:00 +0000] "HEAD / HTTP/2.0" 404 0 "-" "curl/7.68.0" "10.0.0.1, 10.0.0.2"`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{
			"source.address": "2001:db8::1", "http.request.method": "HEAD", "url.original": "/",
			"http.version": "2.0", "http.response.status_code": 404, "http.response.body.bytes": 0,
			"user_agent.original": "curl/7.68.0", "access_log.extra": []any{"10.0.0.1, 10.0.0.2"},
		}},
	}, {
		name: "X-Forwarded-For chain as the client",
		line: `10.0.0.2, 10.0.0.1, 127.0.0.1 - - [21/Oct/2015:16:29:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.0"`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{
			"source.address": "10.0.0.2", "related.ip": []any{"10.0.0.2", "10.0.0.1", "127.0.0.1"},
			"http.request.method": "GET", "url.original": "/", "http.version": "1.1",
			"http.response.status_code": 200, "http.response.body.bytes": 5, "user_agent.original": "curl/8.0",
		}},
	}, {
		name: "Apache vhost_combined prefix",
		line: `example.com:80 81.2.69.143 - - [21/Oct/2015:16:29:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.0"`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{
			"destination.domain": "example.com", "destination.port": 80, "source.address": "81.2.69.143",
			"http.request.method": "GET", "url.original": "/", "http.version": "1.1",
			"http.response.status_code": 200, "http.response.body.bytes": 5, "user_agent.original": "curl/8.0",
		}},
	}, {
		name: "words that fit no shape before [time]",
		line: `"quoted" a b c d [21/Oct/2015:16:29:00 +0000] "GET / HTTP/1.1" 200 5`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{"error.message": `combined: "\"quoted\"" before [time] is not a host or an address`}, tags: []string{TagParseFailure}},
	}, {
		name: "two clients without a comma after a vhost-less word",
		line: `10.0.0.2, 10.0.0.1 127.0.0.1 - - [21/Oct/2015:16:29:00 +0000] "GET / HTTP/1.1" 200 5`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{"error.message": `combined: "10.0.0.2, 10.0.0.1 127.0.0.1" before [time] is neither an address, a vhost and an address, nor a comma-separated chain`}, tags: []string{TagParseFailure}},
	}, {
		name: "TLS handshake on the plain port",
		line: `198.51.100.9 - - [21/Oct/2015:16:29:00 +0000] "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" 400 166 "-" "-"`,
		want: want{time: "2015-10-21T16:29:00Z", fields: map[string]any{
			"source.address": "198.51.100.9", "url.original": `\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03`,
			"http.response.status_code": 400, "http.response.body.bytes": 166,
		}},
	}, {
		name: "not an access log",
		line: `nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)`,
		want: want{fields: map[string]any{"error.message": `combined: no "request" after [time]`}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}, {
		name: "bad time",
		line: `127.0.0.1 - - [yesterday] "GET / HTTP/1.1" 200 1`,
		want: want{fields: map[string]any{"error.message": `combined: time "yesterday" is not like 21/Oct/2015:16:29:00 +0000`}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}})
}

func TestRFC3164(t *testing.T) {
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC3164}, []lineCase{{
		name: "RFC example with PRI",
		line: `<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`,
		want: want{message: "'su root' failed for lonvick on /dev/pts/8", time: "2015-10-11T22:14:15Z", level: "critical", fields: map[string]any{
			"log.syslog.priority": 34, "log.syslog.facility.code": 4, "log.syslog.facility.name": "auth",
			"log.syslog.severity.code": 2, "log.syslog.severity.name": "critical",
			"host.hostname": "mymachine", "process.name": "su",
		}},
	}, {
		name: "file written by rsyslog",
		line: `Oct 21 16:29:00 web-1 sshd[4721]: Accepted publickey for deploy from 203.0.113.7 port 52113 ssh2`,
		want: want{message: "Accepted publickey for deploy from 203.0.113.7 port 52113 ssh2", time: "2015-10-21T16:29:00Z", fields: map[string]any{
			"host.hostname": "web-1", "process.name": "sshd", "process.pid": 4721,
		}},
	}, {
		name: "space-padded day, tag with slash",
		line: `Oct  1 06:25:01 mx-1 postfix/smtpd[1234]: connect from unknown[192.0.2.9]`,
		want: want{message: "connect from unknown[192.0.2.9]", time: "2015-10-01T06:25:01Z", fields: map[string]any{
			"host.hostname": "mx-1", "process.name": "postfix/smtpd", "process.pid": 1234,
		}},
	}, {
		name: "unpadded day",
		line: `Nov 9 12:01:01 host prog[1]: hello`,
		want: want{message: "hello", time: "2014-11-09T12:01:01Z", fields: map[string]any{
			"host.hostname": "host", "process.name": "prog", "process.pid": 1,
		}},
	}, {
		name: "zero-padded day with fraction",
		line: `Oct 09 12:01:01.250 host prog: hello`,
		want: want{message: "hello", time: "2015-10-09T12:01:01.25Z", fields: map[string]any{"host.hostname": "host", "process.name": "prog"}},
	}, {
		name: "Linux PAM context before the pid (loghub Linux sample)",
		line: `Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4`,
		want: want{message: "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4", time: "2015-06-14T15:16:01Z", fields: map[string]any{
			"host.hostname": "combo", "process.name": "sshd", "process.pid": 19939, "log.syslog.context": "pam_unix",
		}},
	}, {
		name: "macOS launchd context after the pid",
		line: `Jul  1 09:03:11 calvisitor-10-105-160-95 com.apple.xpc.launchd[1] (com.apple.xpc.launchd.domain.pid.WebContent.35704): Path not allowed in target domain`,
		want: want{message: "Path not allowed in target domain", time: "2015-07-01T09:03:11Z", fields: map[string]any{
			"host.hostname": "calvisitor-10-105-160-95", "process.name": "com.apple.xpc.launchd", "process.pid": 1,
			"log.syslog.context": "com.apple.xpc.launchd.domain.pid.WebContent.35704",
		}},
	}, {
		name: "December line read in October is from this year; one from later is from last year",
		line: `Dec 31 23:59:59 web-1 app: late`,
		want: want{message: "late", time: "2014-12-31T23:59:59Z", fields: map[string]any{"host.hostname": "web-1", "process.name": "app"}},
	}, {
		name: "rsyslog high-precision time",
		line: `2015-10-21T16:29:00.123456+02:00 web-1 kernel: [12345.678] eth0: link up`,
		want: want{message: "[12345.678] eth0: link up", time: "2015-10-21T14:29:00.123456Z", fields: map[string]any{"host.hostname": "web-1", "process.name": "kernel"}},
	}, {
		name: "no host",
		line: `Oct 21 16:29:00 kernel: Out of memory: Kill process 4242 (java)`,
		want: want{message: "Out of memory: Kill process 4242 (java)", time: "2015-10-21T16:29:00Z", fields: map[string]any{"process.name": "kernel"}},
	}, {
		name: "no tag",
		line: `<13>Oct 21 16:29:00 web-1 something happened`,
		want: want{message: "something happened", time: "2015-10-21T16:29:00Z", level: "notice", fields: map[string]any{
			"log.syslog.priority": 13, "log.syslog.facility.code": 1, "log.syslog.facility.name": "user",
			"log.syslog.severity.code": 5, "log.syslog.severity.name": "notice", "host.hostname": "web-1",
		}},
	}, {
		name: "not syslog",
		line: `hello`,
		want: want{fields: map[string]any{"error.message": `rfc3164: no timestamp (like "Oct 21 16:29:00")`}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}, {
		name: "PRI out of range",
		line: `<192>Oct 21 16:29:00 web-1 x: y`,
		want: want{fields: map[string]any{"error.message": "syslog: <PRI> is not 0-191"}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}})
}

func TestRFC3164YearAcrossNewYear(t *testing.T) {
	p, err := New(&routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC3164})
	if err != nil {
		t.Fatal(err)
	}
	jan2 := time.Date(2016, 1, 2, 0, 0, 0, 0, time.UTC)
	for line, want := range map[string]time.Time{
		"Dec 31 23:59:59 h a: m": time.Date(2015, 12, 31, 23, 59, 59, 0, time.UTC),
		"Jan  1 00:00:01 h a: m": time.Date(2016, 1, 1, 0, 0, 1, 0, time.UTC),
		"Jan  3 12:00:00 h a: m": time.Date(2016, 1, 3, 12, 0, 0, 0, time.UTC), // a clock a day ahead
	} {
		if got := p.Parse(Input{Line: []byte(line), ReadTime: jan2}).Timestamp.AsTime(); !got.Equal(want) {
			t.Errorf("%q read on %s: %s, want %s", line, jan2.Format(time.DateOnly), got, want)
		}
	}
}

func TestRFC5424(t *testing.T) {
	run(t, &routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC5424}, []lineCase{{
		name: "RFC example 1, BOM",
		line: "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \uFEFF'su root' failed for lonvick on /dev/pts/8",
		want: want{message: "'su root' failed for lonvick on /dev/pts/8", time: "2003-10-11T22:14:15.003Z", level: "critical", fields: map[string]any{
			"log.syslog.priority": 34, "log.syslog.facility.code": 4, "log.syslog.facility.name": "auth",
			"log.syslog.severity.code": 2, "log.syslog.severity.name": "critical", "log.syslog.version": "1",
			"host.hostname": "mymachine.example.com", "process.name": "su", "log.syslog.msgid": "ID47",
		}},
	}, {
		name: "RFC example 2, offset and pid",
		line: `<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`,
		want: want{message: "%% It's time to make the do-nuts.", time: "2003-08-24T12:14:15.000003Z", level: "notice", fields: map[string]any{
			"log.syslog.priority": 165, "log.syslog.facility.code": 20, "log.syslog.facility.name": "local4",
			"log.syslog.severity.code": 5, "log.syslog.severity.name": "notice", "log.syslog.version": "1",
			"host.hostname": "192.0.2.1", "process.name": "myproc", "process.pid": 8710,
		}},
	}, {
		name: "structured data, two elements, escapes, no message",
		line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog worker-3 ID47 [exampleSDID@32473 iut="3" eventSource="App \"x\" [1\]" eventID="1011"][examplePriority@32473 class="high"]`,
		want: want{time: "2003-10-11T22:14:15.003Z", level: "notice", fields: map[string]any{
			"log.syslog.priority": 165, "log.syslog.facility.code": 20, "log.syslog.facility.name": "local4",
			"log.syslog.severity.code": 5, "log.syslog.severity.name": "notice", "log.syslog.version": "1",
			"host.hostname": "mymachine.example.com", "process.name": "evntslog", "log.syslog.procid": "worker-3", "log.syslog.msgid": "ID47",
			"log.syslog.structured_data.exampleSDID@32473.iut":         "3",
			"log.syslog.structured_data.exampleSDID@32473.eventSource": `App "x" [1]`,
			"log.syslog.structured_data.exampleSDID@32473.eventID":     "1011",
			"log.syslog.structured_data.examplePriority@32473.class":   "high",
		}},
	}, {
		name: "nil time and header",
		line: `<14>1 - - - - - - hello`,
		want: want{message: "hello", level: "info", tags: fallback, fields: map[string]any{
			"log.syslog.priority": 14, "log.syslog.facility.code": 1, "log.syslog.facility.name": "user",
			"log.syslog.severity.code": 6, "log.syslog.severity.name": "informational", "log.syslog.version": "1",
		}},
	}, {
		name: "RFC 3164 line",
		line: `<34>Oct 11 22:14:15 mymachine su: 'su root' failed`,
		want: want{fields: map[string]any{"error.message": `rfc5424: version "Oct" is not a number`}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}, {
		name: "unterminated structured data",
		line: `<34>1 2003-10-11T22:14:15.003Z h a - - [id k="v`,
		want: want{time: "2003-10-11T22:14:15.003Z", fields: map[string]any{"error.message": "rfc5424: unterminated structured data value"}, tags: []string{TagParseFailure}},
	}})
}

func TestRegex(t *testing.T) {
	run(t, &routingv1.Parser{
		Format:  routingv1.Parser_FORMAT_REGEX,
		Pattern: `^%{TIMESTAMP_ISO8601:timestamp} +%{LOGLEVEL:level} +\[%{DATA:process.thread.name}\] %{NOTSPACE:log.logger} - %{GREEDYDATA:message}$`,
	}, []lineCase{{
		name: "log4j",
		line: `2015-10-21 16:29:00,123 ERROR [main] com.example.App - Connection refused`,
		want: want{message: "Connection refused", time: "2015-10-21T16:29:00.123Z", level: "error", fields: map[string]any{
			"process.thread.name": "main", "log.logger": "com.example.App",
		}},
	}, {
		name: "no match",
		line: `Connection refused`,
		want: want{fields: map[string]any{"error.message": "regex: the line does not match the pattern"}, tags: []string{TagParseFailure, TagTimestampFallback}},
	}})
	run(t, &routingv1.Parser{
		Format:  routingv1.Parser_FORMAT_REGEX,
		Pattern: `^%{IP:source.ip} %{WORD:http.request.method} %{NOTSPACE:url.path} %{NUMBER:http.response.status_code:int} %{NUMBER:event.duration:float} %{QS:query}(?: (?P<user>\w+))?$`,
	}, []lineCase{{
		name: "types, quoted string, plain group",
		line: `10.0.0.1 GET /index.html 200 0.043 "a \"b\"" alice`,
		want: want{tags: fallback, fields: map[string]any{
			"source.ip": "10.0.0.1", "http.request.method": "GET", "url.path": "/index.html",
			"http.response.status_code": 200, "event.duration": 0.043, "query": `a "b"`, "user": "alice",
		}},
	}, {
		name: "optional group absent",
		line: `::1 GET / 404 1e-3 ""`,
		want: want{tags: fallback, fields: map[string]any{
			"source.ip": "::1", "http.request.method": "GET", "url.path": "/",
			"http.response.status_code": 404, "event.duration": 0.001,
		}},
	}})
}

func TestRaw(t *testing.T) {
	run(t, nil, []lineCase{{
		name: "nginx error log",
		line: `2015/10/21 16:29:00 [error] 1234#0: *1 open() "/srv/www/favicon.ico" failed (2: No such file or directory)`,
		want: want{time: "2015-10-21T16:29:00Z"},
	}, {
		name: "apache error log",
		line: `[Wed Oct 21 16:29:00.123456 2015] [core:error] [pid 1234] [client 192.0.2.1:5678] AH00126: Invalid URI in request`,
		want: want{time: "2015-10-21T16:29:00.123456Z"},
	}, {
		name: "iso with offset",
		line: `2015-10-21 16:29:00.5 +0200 something`,
		want: want{time: "2015-10-21T14:29:00.5Z"},
	}, {
		name: "syslog prefix",
		line: `Oct 21 16:29:00 plain`,
		want: want{time: "2015-10-21T16:29:00Z"},
	}, {
		name: "no time",
		line: `Exception in thread "main" java.lang.NullPointerException`,
		want: want{tags: fallback},
	}, {
		name: "empty line",
		line: ``,
		want: want{tags: fallback},
	}})
}

func TestTimeAutoDetect(t *testing.T) {
	tp := timeParser{loc: time.UTC}
	for in, want := range map[string]string{
		"2015-10-21T16:29:00Z":             "2015-10-21T16:29:00Z",
		"2015-10-21T16:29:00.123456789Z":   "2015-10-21T16:29:00.123456789Z",
		"2015-10-21T16:29:00+02:00":        "2015-10-21T14:29:00Z",
		"2015-10-21T16:29:00-0530":         "2015-10-21T21:59:00Z",
		"2015-10-21T16:29:00+02":           "2015-10-21T14:29:00Z",
		"2015-10-21 16:29:00":              "2015-10-21T16:29:00Z",
		"2015-10-21 16:29:00,007":          "2015-10-21T16:29:00.007Z",
		"2015-10-21 16:29":                 "2015-10-21T16:29:00Z",
		"2015-10-21":                       "2015-10-21T00:00:00Z",
		"2015-10-21T16:29:00.1234567891Z":  "2015-10-21T16:29:00.123456789Z",
		"21/Oct/2015:16:29:00 -0700":       "2015-10-21T23:29:00Z",
		"2015/10/21 16:29:00":              "2015-10-21T16:29:00Z",
		"Oct 21 16:29:00":                  "2015-10-21T16:29:00Z",
		"Oct 21 16:29:00.250":              "2015-10-21T16:29:00.25Z",
		"Wed Oct 21 16:29:00 2015":         "2015-10-21T16:29:00Z",
		"Wed Oct 21 16:29:00 UTC 2015":     "2015-10-21T16:29:00Z",
		"Wed, 21 Oct 2015 16:29:00 +0000":  "2015-10-21T16:29:00Z",
		"1445444940":                       "2015-10-21T16:29:00Z",
		"1445444940.25":                    "2015-10-21T16:29:00.25Z",
		"1445444940123":                    "2015-10-21T16:29:00.123Z",
		"1445444940123456":                 "2015-10-21T16:29:00.123456Z",
		"  2015-10-21T16:29:00Z  ":         "2015-10-21T16:29:00Z",
		"2016-02-29T00:00:00Z":             "2016-02-29T00:00:00Z",
		"2015-10-21T16:29:00.000000001Z":   "2015-10-21T16:29:00.000000001Z",
		"2015-10-21T16:29:00.123456+00:00": "2015-10-21T16:29:00.123456Z",
	} {
		got, ok := tp.parse(in, readTime)
		if !ok {
			t.Errorf("%q: not recognised", in)
			continue
		}
		if w, _ := time.Parse(time.RFC3339Nano, want); !got.Equal(w) {
			t.Errorf("%q = %s, want %s", in, got.Format(time.RFC3339Nano), want)
		}
	}
	for _, in := range []string{"", "yesterday", "2015-02-30T00:00:00Z", "2015-13-01", "2015-10-21T25:00:00Z", "2015-10-21T16:29:00+2", "2015-10-21X16:29", "2015-10-21T16:29:00.Z", "Foo 21 16:29:00", "-1", "1.2.3"} {
		if got, ok := tp.parse(in, readTime); ok {
			t.Errorf("%q read as %s, want not recognised", in, got)
		}
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	if got, _ := (timeParser{loc: paris}).parse("2015-10-21 16:29:00", readTime); !got.Equal(time.Date(2015, 10, 21, 14, 29, 0, 0, time.UTC)) {
		t.Errorf("zone-less time in Europe/Paris = %s", got)
	}
}

func TestInputTags(t *testing.T) {
	p, err := New(&routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON})
	if err != nil {
		t.Fatal(err)
	}
	e := p.Parse(Input{Line: []byte("{\"msg\":\"caf\xe9\"}"), Ingested: readTime, Truncated: true})
	if e.Message != "caf\uFFFD" {
		t.Errorf("message = %q", e.Message)
	}
	if want := []string{TagTruncated, TagInvalidUTF8, TagTimestampFallback}; !slices.Equal(e.Tags, want) {
		t.Errorf("tags = %q, want %q", e.Tags, want)
	}
	if !e.Timestamp.AsTime().Equal(readTime) {
		t.Errorf("without a read time the fallback is the ingest time; got %s", e.Timestamp.AsTime())
	}
	if Failed(e) {
		t.Error("Failed on a parsed line")
	}
	cut := p.Parse(Input{Line: []byte(`{"msg":"a long li`), Truncated: true})
	if !Failed(cut) || cut.Message != `{"msg":"a long li` {
		t.Errorf("a truncated JSON line must be kept raw and failed: %v", cut)
	}
	if d := time.Since(cut.Timestamp.AsTime()); d < 0 || d > time.Minute {
		t.Errorf("with neither read nor ingest time the fallback is now; got %s", cut.Timestamp.AsTime())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg   *routingv1.Parser
		field string
		msg   string
	}{
		{&routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX}, "pattern", "required"},
		{&routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: `%{NOPE:x}`}, "pattern", "unknown pattern %{NOPE}"},
		{&routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: `%{INT:x:date}`}, "pattern", "not int, long, float or bool"},
		{&routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: `(?P<x>a`}, "pattern", "missing closing )"},
		{&routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: `^\d+$`}, "pattern", "nothing to extract"},
		{&routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: `(?P<__0>x)`}, "pattern", "reserved"},
		{&routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON, Pattern: `x`}, "pattern", "only the regex format"},
		{&routingv1.Parser{Timezone: "Mars/Olympus_Mons"}, "timezone", "unknown time zone"},
		{&routingv1.Parser{TimestampLayout: "day month"}, "timestamp_layout", "pattern letter o is not supported"},
		{&routingv1.Parser{TimestampLayout: "20060102-15:04:05:000"}, "timestamp_layout", `holds the digits "000"`},
		{&routingv1.Parser{TimestampLayout: "-"}, "timestamp_layout", "has no element of a time"},
		{&routingv1.Parser{TimestampLayouts: []string{"RFC3339", "%Y-%m-%d %Q"}}, "timestamp_layouts[1]", "%Q is not supported"},
		{&routingv1.Parser{TimestampLayouts: []string{"yyyy-MM-dd HH:mm:ssSSS"}}, "timestamp_layouts[0]", "S must follow"},
		{&routingv1.Parser{TimestampLayouts: make([]string, MaxLayouts)}, "timestamp_layouts", "at most 16"},
		{&routingv1.Parser{Format: 99}, "format", "unknown format"},
	} {
		_, err := New(c.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("New(%v) = %v; want a %s error containing %q", c.cfg, err, c.field, c.msg)
		}
	}
	for _, l := range []string{"", "RFC3339", "RFC3339Nano", "UNIX", "UNIX_MS", "UNIX_US", "UNIX_NS", "ISO8601", "HTTPDATE", "02.01.2006 15:04", "%d/%b/%Y:%H:%M:%S %z", "yyyy-MM-dd'T'HH:mm:ss.SSSZZ", "20060102-15:04:05.000"} {
		if _, err := New(&routingv1.Parser{TimestampLayout: l}); err != nil {
			t.Errorf("layout %q: %v", l, err)
		}
	}
}

func TestOwned(t *testing.T) {
	for k, want := range map[string]bool{
		"message": true, "message.x": true, "@timestamp": true, "event": true, "event.id": true,
		"event.action": false, "log": true, "log.file.path": true, "log.syslog.priority": false,
		"host": true, "host.name": true, "host.hostname": false, "labels.team": true, "tags": true,
		"data_stream.dataset": true, "hindsight.x": true, "service": true, "service.version": false,
		"http.response.status_code": false, "messages": false, "serviCe": true, "Log.Level": true,
	} {
		if owned(k) != want {
			t.Errorf("owned(%q) = %v, want %v", k, !want, want)
		}
	}
}
