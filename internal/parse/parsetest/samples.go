// Package parsetest holds realistic log lines of every format the parsers
// read, with the parser configuration of each: the workload of the parse
// benchmarks (internal/parse, the router's) and the fuzz targets' seeds.
package parsetest

import (
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Sample is a dataset's parser configuration and lines it parses.
type Sample struct {
	Name   string
	Config *routingv1.Parser
	Lines  []string
}

// Log4jPattern is the regex format's sample pattern: a log4j layout.
const Log4jPattern = `^%{TIMESTAMP_ISO8601:timestamp} +%{LOGLEVEL:level} +\[%{DATA:process.thread.name}\] %{NOTSPACE:log.logger} - %{GREEDYDATA:message}$`

// Samples has one Sample per format, named raw, json, logfmt, combined,
// rfc3164, rfc5424 and regex.
var Samples = []Sample{{
	Name:   "raw",
	Config: &routingv1.Parser{},
	Lines: []string{
		`2015/10/21 16:29:00 [error] 1234#0: *1 open() "/srv/www/favicon.ico" failed (2: No such file or directory), client: 203.0.113.7, server: example.com`,
		`[Wed Oct 21 16:29:00.123456 2015] [core:error] [pid 1234] [client 192.0.2.1:5678] AH00126: Invalid URI in request GET /%%% HTTP/1.1`,
		`Exception in thread "main" java.lang.NullPointerException: Cannot invoke "String.length()" because "s" is null`,
		`2015-10-21 16:29:00,123 INFO  [pool-1-thread-3] o.a.k.c.p.KafkaProducer - Closing the Kafka producer with timeoutMillis = 0 ms.`,
	},
}, {
	Name:   "json",
	Config: &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON},
	Lines: []string{
		`{"time":"2015-10-21T16:29:00.123456789+02:00","level":"ERROR","msg":"payment failed","service":"billing","order_id":1234,"err":"card declined","http":{"method":"POST","status":502}}`,
		`{"level":"info","ts":1445444940.5,"caller":"server/main.go:42","msg":"listening","addr":":8080","host":"web-1"}`,
		`{"level":30,"time":1445444940123,"pid":12,"hostname":"api-7","msg":"request completed","res":{"statusCode":200},"responseTime":12,"req":{"id":42,"method":"GET","url":"/api/v1/orders?limit=50"}}`,
		`{"log":"GET /healthz 200 0.3ms\n","stream":"stdout","time":"2015-10-21T16:29:00.000000001Z"}`,
		`{"@timestamp":"2015-10-21T16:29:00Z","log.level":"warn","message":"disk 91% full","event":{"id":"abc","dataset":"db"},"host":{"name":"db-1"},"tags":["x"]}`,
	},
}, {
	Name:   "logfmt",
	Config: &routingv1.Parser{Format: routingv1.Parser_FORMAT_LOGFMT},
	Lines: []string{
		`ts=2015-10-21T16:29:00.123Z caller=compact.go:460 level=info component=tsdb msg="compact blocks" count=3 mint=1445385600000 maxt=1445392800000 duration=1.234s`,
		`time="2015-10-21 16:29:00" level=warning msg="slow query" service=api host=web-2 db.statement="SELECT * FROM users WHERE name = \"bob\"" duration=1.2s`,
		`at=info method=GET path="/" host=myapp.example.com request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="204.204.204.204" dyno=web.1 connect=1ms status=200 bytes=13 protocol=https`,
	},
}, {
	Name:   "combined",
	Config: &routingv1.Parser{Format: routingv1.Parser_FORMAT_COMBINED},
	Lines: []string{
		`203.0.113.7 - - [21/Oct/2015:16:29:00 +0200] "GET /api/users?page=2 HTTP/1.1" 200 1534 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/46.0.2490.80 Safari/537.36"`,
		`192.0.2.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
		`127.0.0.1 - - [21/Oct/2015:16:29:00 +0000] "POST /login HTTP/1.1" 302 -`,
		`2001:db8::1 - - [21/Oct/2015:16:29:00 +0000] "HEAD / HTTP/2.0" 404 0 "-" "curl/7.68.0" "10.0.0.1, 10.0.0.2"`,
		`198.51.100.9 - - [21/Oct/2015:16:29:00 +0000] "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" 400 166 "-" "-"`,
	},
}, {
	Name:   "rfc3164",
	Config: &routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC3164},
	Lines: []string{
		`<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`,
		`Oct 21 16:29:00 web-1 sshd[4721]: Accepted publickey for deploy from 203.0.113.7 port 52113 ssh2: RSA SHA256:Hx1k3JgT8n4`,
		`Oct  1 06:25:01 mx-1 postfix/smtpd[1234]: connect from unknown[192.0.2.9]`,
		`2015-10-21T16:29:00.123456+02:00 web-1 kernel: [12345.678] eth0: link up`,
		`Oct 21 16:29:00 kernel: Out of memory: Kill process 4242 (java) score 912 or sacrifice child`,
	},
}, {
	Name:   "rfc5424",
	Config: &routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC5424},
	Lines: []string{
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \uFEFF'su root' failed for lonvick on /dev/pts/8",
		`<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`,
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`,
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
	},
}, {
	Name:   "regex",
	Config: &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: Log4jPattern},
	Lines: []string{
		`2015-10-21 16:29:00,123 ERROR [main] com.example.App - Connection refused: connect to db-1:5432`,
		`2015-10-21 16:29:00,456 INFO  [http-nio-8080-exec-7] o.s.web.servlet.DispatcherServlet - Completed 200 OK in 12ms`,
		`2015-10-21T16:29:01.789+02:00 WARN [scheduler-1] com.example.jobs.Cleanup - 3 expired sessions left behind`,
	},
}}

// Lookup returns the sample of a format by name.
func Lookup(name string) (Sample, bool) {
	for _, s := range Samples {
		if s.Name == name {
			return s, true
		}
	}
	return Sample{}, false
}
