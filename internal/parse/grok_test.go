package parse

import (
	"errors"
	"strings"
	"testing"
	"time"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// TestGrokPatterns matches each built-in pattern, anchored, against examples
// of what it stands for (the kind of values Logstash's documentation and
// pattern tests use) and against values it must refuse.
func TestGrokPatterns(t *testing.T) {
	for name, c := range map[string]struct{ match, refuse []string }{
		"USERNAME":           {[]string{"root", "john.doe", "svc_backup-1"}, []string{"a b", "x@y"}},
		"EMAILADDRESS":       {[]string{"jane.doe@example.com", "a+tag@mail.example.org"}, []string{"no-at.example.com", "a@"}},
		"INT":                {[]string{"0", "-42", "+7"}, []string{"1.5", "x"}},
		"NUMBER":             {[]string{"3.14", "-0.5", "1e10", ".5", "42"}, []string{"1.2.3", "e5"}},
		"BASE16NUM":          {[]string{"0xdeadBEEF", "ff", "-0x1"}, []string{"0xg"}},
		"POSINT":             {[]string{"1", "8080"}, []string{"0", "-1", "007"}},
		"NONNEGINT":          {[]string{"0", "007", "123"}, []string{"-1"}},
		"WORD":               {[]string{"hello", "snake_case1"}, []string{"two words", "a-b"}},
		"NOTSPACE":           {[]string{"/var/log/x.log", "a=b"}, []string{"a b"}},
		"QUOTEDSTRING":       {[]string{`"hello \"world\""`, `'single'`, "`back`"}, []string{`"unterminated`, `"a" "b"`}},
		"UUID":               {[]string{"123e4567-e89b-12d3-a456-426614174000"}, []string{"123e4567e89b12d3a456426614174000"}},
		"URN":                {[]string{"urn:isbn:0451450523", "urn:ietf:rfc:2648"}, []string{"urn:"}},
		"MAC":                {[]string{"00:1A:2b:3C:4d:5E", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5e"}, []string{"00:1A:2B:3C:4D", "zz:1A:2B:3C:4D:5E"}},
		"IPV4":               {[]string{"192.168.0.1", "255.255.255.255", "0.0.0.0"}, []string{"256.1.1.1", "1.2.3", "1.2.3.4.5"}},
		"IPV6":               {[]string{"2001:db8::1", "::1", "::", "fe80::1%eth0", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.128"}, []string{"2001:db8:::1", "12345::1", "1.2.3.4"}},
		"IP":                 {[]string{"10.0.0.1", "2001:db8::1"}, []string{"example.com"}},
		"HOSTNAME":           {[]string{"example.com", "web-1", "a.b.c.example.org."}, []string{"-bad.example.com", "under_score.com"}},
		"IPORHOST":           {[]string{"10.0.0.1", "db-1.internal"}, []string{"a b"}},
		"HOSTPORT":           {[]string{"example.com:443", "10.0.0.1:8080"}, []string{"example.com", "example.com:0"}},
		"UNIXPATH":           {[]string{"/var/log/syslog", "/"}, []string{"relative/path"}},
		"WINPATH":            {[]string{`C:\Windows\System32`, `\\server\share`}, []string{"/unix"}},
		"PATH":               {[]string{"/etc/hosts", `D:\logs\app.log`}, []string{"nope"}},
		"TTY":                {[]string{"/dev/pts/8", "/dev/tty1"}, []string{"/dev/sda"}},
		"URIPROTO":           {[]string{"https", "svn+ssh"}, []string{"1http"}},
		"URIPATH":            {[]string{"/index.html", "/a/b;c=d"}, []string{"index.html"}},
		"URIPATHPARAM":       {[]string{"/search?q=grok&lang=en", "/"}, []string{"?q=1"}},
		"URI":                {[]string{"https://www.example.com/path/to?x=1", "ftp://user:pw@ftp.example.com:21/pub", "http://10.0.0.1"}, []string{"www.example.com/path"}},
		"MONTH":              {[]string{"Jan", "January", "Sep", "Dez", "Mär"}, []string{"Foo", "13"}},
		"MONTHNUM":           {[]string{"1", "01", "12"}, []string{"13", "00"}},
		"MONTHDAY":           {[]string{"1", "09", "31"}, []string{"32", "00"}},
		"DAY":                {[]string{"Mon", "Wednesday"}, []string{"Mo"}},
		"YEAR":               {[]string{"2015", "15"}, []string{"201"}},
		"TIME":               {[]string{"16:29:00", "09:05", "23:59:60.123"}, []string{"24:00:00", "12:60:00"}},
		"DATE_US":            {[]string{"10/21/2015", "1-2-15"}, []string{"21/10/2015"}},
		"DATE_EU":            {[]string{"21.10.2015", "21/10/2015"}, []string{"10/32/2015"}},
		"TIMESTAMP_ISO8601":  {[]string{"2015-10-21T16:29:00Z", "2015-10-21 16:29:00,123", "2015-10-21T16:29:00.123456+02:00", "2015-10-21T16:29"}, []string{"2015-13-21T16:29:00Z", "21-10-2015 16:29"}},
		"DATESTAMP":          {[]string{"10/21/2015 16:29:00", "21.10.2015-16:29:00"}, []string{"2015-10-21 16:29:00"}},
		"TZ":                 {[]string{"UTC", "PST", "CEST"[1:]}, []string{"XYZ"}},
		"DATESTAMP_RFC822":   {[]string{"Wed Jan 12 2015 16:29:00 UTC"}, []string{"Wed Jan 12 2015 16:29:00"}},
		"DATESTAMP_RFC2822":  {[]string{"Wed, 21 Oct 2015 16:29:00 +0200"}, []string{"21 Oct 2015 16:29:00 +0200"}},
		"DATESTAMP_OTHER":    {[]string{"Wed Oct 21 16:29:00 PDT 2015"}, []string{"Wed Oct 21 16:29:00 2015"}},
		"HTTPDATE":           {[]string{"21/Oct/2015:16:29:00 +0200", "10/Oct/2000:13:55:36 -0700"}, []string{"2015-10-21 16:29:00"}},
		"HTTPDERROR_DATE":    {[]string{"Wed Oct 21 16:29:00.123456 2015", "Sun Mar 7 16:02:00 2004"}, []string{"Oct 21 16:29:00 2015"}},
		"SYSLOGTIMESTAMP":    {[]string{"Oct 21 16:29:00", "Oct  1 06:25:01", "Nov 9 12:01:01"}, []string{"21 Oct 16:29:00"}},
		"PROG":               {[]string{"sshd", "postfix/smtpd", "CRON"}, []string{"a b", "x[1]"}},
		"LOGLEVEL":           {[]string{"INFO", "warn", "Warning", "ERROR", "err", "fatal", "DEBUG", "Trace", "notice", "CRITICAL", "emerg", "SEVERE"}, []string{"verbose", "INFOX"}},
		"JAVACLASS":          {[]string{"com.example.App", "org.apache.kafka.clients.producer.KafkaProducer$1"}, []string{"1com.example"}},
		"JAVAMETHOD":         {[]string{"main", "<init>", "<clinit>", "lambda$run$0"}, []string{"a.b"}},
		"DATESTAMP_NGINX":    {[]string{"2015/10/21 16:29:00"}, []string{"2015-10-21 16:29:00"}},
		"CATALINA_DATESTAMP": {[]string{"Oct 21, 2015 4:29:00 PM"}, []string{"Oct 21 2015 4:29:00"}},
		"TOMCAT_DATESTAMP":   {[]string{"2015-10-21 16:29:00", "2015-10-21 16:29:00.123 +0200"}, []string{"2015/10/21 16:29:00"}},
	} {
		p, err := newGrok(nil)
		if err != nil {
			t.Fatal(err)
		}
		pat, err := p.compile(`^%{`+name+`}$`, true)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, s := range c.match {
			if !pat.re.MatchString(s) {
				t.Errorf("%%{%s} does not match %q", name, s)
			}
		}
		for _, s := range c.refuse {
			if pat.re.MatchString(s) {
				t.Errorf("%%{%s} matches %q", name, s)
			}
		}
	}
}

// TestGrokCompoundPatterns parses whole lines with the compound patterns
// into their ECS fields.
func TestGrokCompoundPatterns(t *testing.T) {
	type fields = map[string]any
	for _, c := range []struct {
		pattern, line string
		time          string
		message       string
		level         string
		fields        fields
		layouts       []string
	}{{
		pattern: "%{COMBINEDAPACHELOG}",
		line:    `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
		time:    "2000-10-10T20:55:36Z",
		fields: fields{"source.address": "127.0.0.1", "user.name": "frank", "http.request.method": "GET", "url.original": "/apache_pb.gif",
			"http.version": "1.0", "http.response.status_code": 200, "http.response.body.bytes": 2326,
			"http.request.referrer": "http://www.example.com/start.html", "user_agent.original": "Mozilla/4.08 [en] (Win98; I ;Nav)"},
	}, {
		pattern: "%{COMMONAPACHELOG}",
		line:    `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 304 -`,
		time:    "2000-10-10T20:55:36Z",
		fields: fields{"source.address": "127.0.0.1", "http.request.method": "GET", "url.original": "/",
			"http.version": "1.1", "http.response.status_code": 304},
	}, {
		pattern: "%{HTTPD_ERRORLOG}",
		line:    `[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test`,
		time:    "2000-10-11T14:32:52Z", level: "error",
		message: "client denied by server configuration: /export/home/live/ap/htdocs/test",
		fields:  fields{"source.address": "127.0.0.1"},
	}, {
		pattern: "%{HTTPD_ERRORLOG}",
		line:    `[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] AH00128: File does not exist: /usr/local/apache2/htdocs/favicon.ico`,
		time:    "2011-09-09T10:42:29.902022Z", level: "error",
		message: "File does not exist: /usr/local/apache2/htdocs/favicon.ico",
		fields:  fields{"apache.error.module": "core", "error.code": "AH00128", "process.pid": 35708, "process.thread.id": 4328636416, "source.address": "72.15.99.187"},
	}, {
		pattern: "%{SYSLOGLINE}",
		line:    `Nov 9 12:01:01 host prog[1]: hello there`,
		time:    "2014-11-09T12:01:01Z", message: "hello there",
		fields: fields{"host.hostname": "host", "process.name": "prog", "process.pid": 1},
	}, {
		pattern: "%{SYSLOGBASE} %{GREEDYDATA:message}",
		line:    `Oct  1 06:25:01 mx-1 postfix/smtpd[1234]: connect from unknown[192.0.2.9]`,
		time:    "2015-10-01T06:25:01Z", message: "connect from unknown[192.0.2.9]",
		fields: fields{"host.hostname": "mx-1", "process.name": "postfix/smtpd", "process.pid": 1234},
	}, {
		pattern: "%{SYSLOG5424LINE}",
		line:    `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] An application event log entry`,
		time:    "2003-10-11T22:14:15.003Z", message: "An application event log entry",
		fields: fields{"log.syslog.priority": 165, "system.syslog.version": "1", "host.hostname": "mymachine.example.com", "process.name": "evntslog",
			"event.code": "ID47", "system.syslog.structured_data": `[exampleSDID@32473 iut="3"]`},
	}, {
		pattern: "%{NGINX_ERRORLOG}",
		line:    `2015/10/21 16:29:00 [error] 1234#0: *1 open() "/srv/www/favicon.ico" failed (2: No such file or directory)`,
		time:    "2015-10-21T16:29:00Z", level: "error", message: `open() "/srv/www/favicon.ico" failed (2: No such file or directory)`,
		fields: fields{"process.pid": 1234, "process.thread.id": 0, "nginx.error.connection_id": 1},
	}, {
		pattern: "%{JAVASTACKTRACEPART}",
		line:    `	at com.example.App.main(App.java:42)`,
		fields:  fields{"java.log.origin.class.name": "com.example.App", "log.origin.function": "main", "log.origin.file.name": "App.java", "log.origin.file.line": 42},
	}, {
		pattern: "%{TOMCATLOG}",
		line:    `2015-10-21 16:29:00 | ERROR | org.apache.catalina.core.StandardContext - Error starting static Resources`,
		time:    "2015-10-21T16:29:00Z", level: "error", message: "Error starting static Resources",
		fields: fields{"java.log.origin.class.name": "org.apache.catalina.core.StandardContext"},
	}, {
		pattern: "%{CATALINALOG}",
		line:    `Oct 21, 2015 4:29:00 PM org.apache.catalina.startup.Catalina start INFO: Server startup in 123 ms`,
		time:    "2015-10-21T16:29:00Z", level: "info", message: "Server startup in 123 ms",
		fields:  fields{"java.log.origin.class.name": "org.apache.catalina.startup.Catalina", "log.origin.function": "start"},
		layouts: []string{"MMM d, yyyy h:mm:ss a"},
	}} {
		t.Run(c.pattern, func(t *testing.T) {
			cfg := &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "^" + c.pattern + "$", TimestampLayouts: c.layouts}
			run(t, cfg, []lineCase{{name: "line", line: c.line, want: want{message: c.message, time: c.time, level: c.level, fields: c.fields, tags: tagsIfNoTime(c.time)}}})
		})
	}
}

func tagsIfNoTime(ts string) []string {
	if ts == "" {
		return fallback
	}
	return nil
}

func TestGrokCustomDefinitionsAlternativesAndTypes(t *testing.T) {
	cfg := &routingv1.Parser{
		Format: routingv1.Parser_FORMAT_REGEX,
		PatternDefinitions: map[string]string{
			"ANDROID_LEVEL": `[VDIWEF]`,
			"LOGCAT_HEAD":   `%{MONTHNUM2}-%{MONTHDAY} %{TIME}`,
		},
		Pattern:          `^%{LOGCAT_HEAD:timestamp} +%{INT:process.pid:long} +%{INT:process.thread.id:int} %{ANDROID_LEVEL:log.level} %{DATA:log.logger}: %{GREEDYDATA:message}$`,
		Patterns:         []string{`^(?P<event.kind>metric) (?P<labels_not_model>\w+)=%{NUMBER:[metric][value]:float} ok=%{WORD:metric.ok:bool}$`},
		TimestampLayouts: []string{"01-02 15:04:05.000"},
	}
	run(t, cfg, []lineCase{{
		name: "first alternative, custom definitions, long and int",
		line: `03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app wtoken`,
		want: want{message: "printFreezingDisplayLogsopening app wtoken", time: "2015-03-17T16:13:38.811Z", level: "d",
			fields: map[string]any{"process.pid": 1702, "process.thread.id": 2395, "log.logger": "WindowManager"}},
	}, {
		name: "second alternative, dotted group names, bracketed field, float and bool",
		line: `metric cpu=0.75 ok=true`,
		want: want{tags: fallback, fields: map[string]any{"event.kind": "metric", "labels_not_model": "cpu", "metric.value": 0.75, "metric.ok": true}},
	}, {
		name: "no alternative matches",
		line: `something else`,
		want: want{tags: []string{TagParseFailure, TagTimestampFallback}, fields: map[string]any{"error.message": "regex: the line matches none of the 2 patterns"}},
	}})
}

// TestGrokBounds: the 1.1 MB pattern of the security review took 50 s and
// 2.6 GB; it, and one that only expands to too much, are refused at once with
// an error naming the field and not repeating the expansion.
func TestGrokBounds(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   *routingv1.Parser
		field string
		msg   string
	}{
		{"pattern too long", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: strings.Repeat("%{IPORHOST}", 100_000)}, "pattern", "at most 65536 bytes"},
		{"expands too much", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{IP:x}" + strings.Repeat("%{IPORHOST}", 1000)}, "pattern", "expands to more than"},
		{"alternative expands too much", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{IP:x}", Patterns: []string{"%{IP:y}", "%{IP:x}" + strings.Repeat("%{URI}", 1000)}}, "patterns[1]", "expands to more than"},
		{"definition too long", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{X:x}", PatternDefinitions: map[string]string{"X": strings.Repeat("a", MaxPatternLen+1)}}, "pattern_definitions[X]", "at most 65536 bytes"},
		{"definition refers to itself", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{X:x}", PatternDefinitions: map[string]string{"X": "a%{X}"}}, "pattern_definitions[X]", "nest more than 16 deep"},
		{"definitions doubling", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{D9:x}", PatternDefinitions: map[string]string{
			"D0": "%{IPORHOST}%{IPORHOST}", "D1": "%{D0}%{D0}", "D2": "%{D1}%{D1}", "D3": "%{D2}%{D2}", "D4": "%{D3}%{D3}",
			"D5": "%{D4}%{D4}", "D6": "%{D5}%{D5}", "D7": "%{D6}%{D6}", "D8": "%{D7}%{D7}", "D9": "%{D8}%{D8}"}}, "pattern_definitions[D", "expands to more than"},
		{"bad definition name", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{X:x}", PatternDefinitions: map[string]string{"lower": "a"}}, "pattern_definitions[lower]", "upper case"},
		{"too many alternatives", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Patterns: make([]string, MaxPatterns+1)}, "patterns", "at most 32"},
		{"RE2 error in an expansion is not quoted", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{IP:x}" + strings.Repeat("(", 3)}, "pattern", "missing closing )"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := New(c.cfg)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusing took %s", d)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.Field, c.field) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("New = %v; want a %s error containing %q", err, c.field, c.msg)
			}
			if len(err.Error()) > 600 || strings.Contains(err.Error(), "25[0-5]") {
				t.Errorf("the error repeats the expansion: %.200s", err)
			}
		})
	}
}

func BenchmarkGrokCompileMaximal(b *testing.B) {
	g, _ := newGrok(nil)
	src := "%{IP:x}" + strings.Repeat("%{IPORHOST}", MaxExpandedLen/1000) // about the largest pattern allowed
	for b.Loop() {
		if _, err := g.compile(src, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTimestampLayoutsInOrder(t *testing.T) {
	p, err := New(&routingv1.Parser{Format: routingv1.Parser_FORMAT_LOGFMT, TimestampLayouts: []string{
		"yyyy-MM-dd HH:mm:ss,SSS", "%d/%b/%Y:%H:%M:%S %z", "20060102T150405Z0700", "UNIX_MS", "MMM d HH:mm:ss",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		`ts="2015-10-21 16:29:00,123"`:    "2015-10-21T16:29:00.123Z",
		`ts="21/Oct/2015:16:29:00 +0200"`: "2015-10-21T14:29:00Z",
		`ts=20151021T162900Z`:             "2015-10-21T16:29:00Z",
		`ts=1445444940123`:                "2015-10-21T16:29:00.123Z",
		`ts="Oct 9 16:29:00"`:             "2015-10-09T16:29:00Z",
		`ts="2015-10-21T16:29:00Z" x=y`:   "", // no layout reads it: the fallback
	} {
		e := p.Parse(Input{Line: []byte(line), ReadTime: readTime})
		w := readTime
		if want != "" {
			w, _ = time.Parse(time.RFC3339Nano, want)
		}
		if got := e.Timestamp.AsTime(); !got.Equal(w) {
			t.Errorf("%s: %s, want %s", line, got.Format(time.RFC3339Nano), w.Format(time.RFC3339Nano))
		}
	}
	for layout, in := range map[string]string{"UNIX": "1445444940.5", "UNIX_US": "1445444940500000", "UNIX_NS": "1445444940500000001", "%s": "1445444940"} {
		p, err := New(&routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON, TimestampLayout: layout})
		if err != nil {
			t.Fatal(err)
		}
		e := p.Parse(Input{Line: []byte(`{"ts":"` + in + `"}`), ReadTime: readTime})
		if got := e.Timestamp.AsTime(); got.Year() != 2015 || got.Unix() != 1445444940 {
			t.Errorf("%s %s: %s", layout, in, got.Format(time.RFC3339Nano))
		}
	}
}

// TestYearFromFileTime: a back-filled file's year-less stamps take their
// year from the file's own date, not from when it was read.
func TestYearFromFileTime(t *testing.T) {
	p, err := New(&routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC3164})
	if err != nil {
		t.Fatal(err)
	}
	fileTime := time.Date(2019, 3, 5, 10, 0, 0, 0, time.UTC)
	for line, want := range map[string]time.Time{
		"Mar  5 09:00:00 h a: m": time.Date(2019, 3, 5, 9, 0, 0, 0, time.UTC),
		"Dec 31 23:00:00 h a: m": time.Date(2018, 12, 31, 23, 0, 0, 0, time.UTC),
	} {
		if got := p.Parse(Input{Line: []byte(line), ReadTime: readTime, FileTime: fileTime}).Timestamp.AsTime(); !got.Equal(want) {
			t.Errorf("%q in a file of %s: %s, want %s", line, fileTime.Format(time.DateOnly), got, want)
		}
	}
}
