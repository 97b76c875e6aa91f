package parse

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// Grok: %{NAME}, %{NAME:field} and %{NAME:field:type} references in a regex
// pattern expand to named patterns, Logstash's core set below (written here
// from what each pattern means; RE2 has no look-arounds or atomic groups, so
// a few are looser than Logstash's) or a dataset's own pattern_definitions.
// The compound patterns capture into ECS names, as Logstash's ECS mode does.

// Bounds on what a dataset may configure. A pattern is compiled once per
// dataset, but a 1 MB pattern of %{IPORHOST} expands to gigabytes: the
// expansion is cut off as soon as it passes MaxExpandedLen.
const (
	MaxPatternLen      = 64 << 10  // bytes of one pattern or definition as written
	MaxExpandedLen     = 64 << 10  // bytes of one pattern with every reference expanded (compiling 64 KiB takes ~0.25 s and 30 MB)
	MaxPatterns        = 32        // alternatives (pattern + patterns)
	MaxDefinitions     = 256       // pattern_definitions
	MaxDefinitionsLen  = 256 << 10 // bytes of all pattern_definitions as written
	maxReferenceDepth  = 16
	maxErrorFragment   = 40
	reservedGroupStart = "__"
)

var builtins = map[string]string{
	// Basics.
	"USERNAME":       `[a-zA-Z0-9._-]+`,
	"USER":           `%{USERNAME}`,
	"EMAILLOCALPART": `[a-zA-Z0-9!#$%&'*+\-/=?^_{|}~]+(?:\.[a-zA-Z0-9!#$%&'*+\-/=?^_{|}~]+)*`,
	"EMAILADDRESS":   `%{EMAILLOCALPART}@%{HOSTNAME}`,
	"INT":            `[+-]?\d+`,
	"BASE10NUM":      `[+-]?(?:\d+(?:\.\d*)?|\.\d+)`,
	"NUMBER":         `%{BASE10NUM}(?:[eE][+-]?\d+)?`,
	"BASE16NUM":      `[+-]?(?:0x)?[0-9A-Fa-f]+`,
	"BASE16FLOAT":    `\b[+-]?(?:0x)?(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?|\.[0-9A-Fa-f]+)\b`,
	"POSINT":         `\b[1-9]\d*\b`,
	"NONNEGINT":      `\b\d+\b`,
	"WORD":           `\b\w+\b`,
	"NOTSPACE":       `\S+`,
	"SPACE":          `\s*`,
	"DATA":           `.*?`,
	"GREEDYDATA":     `.*`,
	"QUOTEDSTRING":   `(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`(?:[^`\\\\]|\\\\.)*`)",
	"QS":             `%{QUOTEDSTRING}`,
	"UUID":           `[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}`,
	"URN":            `urn:[0-9A-Za-z][0-9A-Za-z-]{0,31}:(?:%[0-9a-fA-F]{2}|[0-9A-Za-z()+,.:=@;$_!*'/?#-])+`,
	"LOGLEVEL":       `\b(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo(?:rmation)?|INFO(?:RMATION)?|[Ww]arn(?:ing)?|WARN(?:ING)?|[Ee]rr(?:or)?|ERR(?:OR)?|[Cc]rit(?:ical)?|CRIT(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?|[Pp]anic|PANIC)\b`,
	"MAC":            `(?:%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC})`,
	"CISCOMAC":       `(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}`,
	"WINDOWSMAC":     `(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}`,
	"COMMONMAC":      `(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}`,
	"IPV4":           `(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`,
	"IPV6":           `(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:)|(?:[0-9A-Fa-f]{1,4}:){6}%{IPV4}|::(?:[Ff]{4}:)?%{IPV4}|(?:[0-9A-Fa-f]{1,4}:){1,5}:%{IPV4})(?:%[0-9A-Za-z]+)?`,
	"IP":             `(?:%{IPV6}|%{IPV4})`,
	"HOSTNAME":       `\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*(?:\.|\b)`,
	"IPORHOST":       `(?:%{IP}|%{HOSTNAME})`,
	"HOSTPORT":       `%{IPORHOST}:%{POSINT}`,
	"PATH":           `(?:%{UNIXPATH}|%{WINPATH})`,
	"UNIXPATH":       `(?:/[^/\s]*)+`,
	"TTY":            `/dev/(?:pts|tty[pq])?(?:\w+)?/?(?:[0-9]+)`,
	"WINPATH":        `(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+`,
	"URIPROTO":       `[A-Za-z](?:[A-Za-z0-9+\-.]+)+`,
	"URIHOST":        `%{IPORHOST}(?::%{POSINT})?`,
	"URIPATH":        `(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+`,
	"URIQUERY":       `[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*`,
	"URIPARAM":       `\?%{URIQUERY}`,
	"URIPATHPARAM":   `%{URIPATH}(?:\?%{URIQUERY})?`,
	"URI":            `%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?%{URIHOST}?(?:%{URIPATH}(?:\?%{URIQUERY})?)?`,
	// Dates and times.
	"MONTH":              `\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?|[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|[Dd]e(?:c|z)(?:ember)?)\b`,
	"MONTHNUM":           `(?:0?[1-9]|1[0-2])`,
	"MONTHNUM2":          `(?:0[1-9]|1[0-2])`,
	"MONTHDAY":           `(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])`,
	"DAY":                `(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)`,
	"YEAR":               `(?:\d\d){1,2}`,
	"HOUR":               `(?:2[0123]|[01]?[0-9])`,
	"MINUTE":             `(?:[0-5][0-9])`,
	"SECOND":             `(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)`,
	"TIME":               `%{HOUR}:%{MINUTE}(?::%{SECOND})?`,
	"DATE_US":            `%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}`,
	"DATE_EU":            `%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}`,
	"ISO8601_TIMEZONE":   `(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))`,
	"ISO8601_SECOND":     `%{SECOND}`,
	"TIMESTAMP_ISO8601":  `%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?`,
	"DATE":               `(?:%{DATE_US}|%{DATE_EU})`,
	"DATESTAMP":          `%{DATE}[- ]%{TIME}`,
	"TZ":                 `(?:[APMCE][SD]T|UTC)`,
	"DATESTAMP_RFC822":   `%{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}`,
	"DATESTAMP_RFC2822":  `%{DAY}, %{MONTHDAY} %{MONTH} %{YEAR} %{TIME} %{ISO8601_TIMEZONE}`,
	"DATESTAMP_OTHER":    `%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}`,
	"DATESTAMP_EVENTLOG": `%{YEAR}%{MONTHNUM2}%{MONTHDAY}%{HOUR}%{MINUTE}%{SECOND}`,
	"HTTPDERROR_DATE":    `%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{YEAR}`,
	"HTTPDATE":           `%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}`,
	// Syslog (RFC 3164 as written to files, and RFC 5424).
	"SYSLOGTIMESTAMP":      `%{MONTH} +%{MONTHDAY} %{TIME}`,
	"PROG":                 `[\x21-\x5a\x5c\x5e-\x7e]+`,
	"SYSLOGPROG":           `%{PROG:process.name}(?:\[%{POSINT:process.pid:int}\])?`,
	"SYSLOGHOST":           `%{IPORHOST}`,
	"SYSLOGFACILITY":       `<%{NONNEGINT:log.syslog.facility.code:int}\.%{NONNEGINT:log.syslog.priority:int}>`,
	"SYSLOGBASE":           `%{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:host.hostname} %{SYSLOGPROG}:`,
	"SYSLOG5424PRINTASCII": `[!-~]+`,
	"SYSLOGBASE2":          `(?:%{SYSLOGTIMESTAMP:timestamp}|%{TIMESTAMP_ISO8601:timestamp})(?: %{SYSLOGFACILITY})?(?: %{SYSLOGHOST:host.hostname})?(?: %{SYSLOGPROG}:)?`,
	"SYSLOGPAMSESSION":     `%{SYSLOGBASE} (?:%{GREEDYDATA:message}) %{WORD:system.auth.pam.module}\(%{DATA:system.auth.pam.origin}\): session %{WORD:system.auth.pam.session_state} for user %{USERNAME:user.name}(?: by %{GREEDYDATA})?`,
	"CRON_ACTION":          `[A-Z ]+`,
	"CRONLOG":              `%{SYSLOGBASE} \(%{USER:user.name}\) %{CRON_ACTION:system.cron.action} \(%{DATA:message}\)`,
	"SYSLOGLINE":           `%{SYSLOGBASE2} %{GREEDYDATA:message}`,
	"SYSLOG5424PRI":        `<%{NONNEGINT:log.syslog.priority:int}>`,
	"SYSLOG5424SD":         `\[%{DATA}\]+`,
	"SYSLOG5424BASE":       `%{SYSLOG5424PRI}%{NONNEGINT:system.syslog.version} +(?:-|%{TIMESTAMP_ISO8601:timestamp}) +(?:-|%{IPORHOST:host.hostname}) +(?:-|%{SYSLOG5424PRINTASCII:process.name}) +(?:-|%{POSINT:process.pid:int}) +(?:-|%{SYSLOG5424PRINTASCII:event.code}) +(?:-|%{SYSLOG5424SD:system.syslog.structured_data})?`,
	"SYSLOG5424LINE":       `%{SYSLOG5424BASE} +%{GREEDYDATA:message}`,
	// Apache httpd and nginx access and error logs.
	"HTTPDUSER":         `(?:%{EMAILADDRESS}|%{USER})`,
	"HTTPD_COMMONLOG":   `%{IPORHOST:source.address} (?:-|%{HTTPDUSER:apache.access.user.identity}) (?:-|%{HTTPDUSER:user.name}) \[%{HTTPDATE:timestamp}\] "(?:%{WORD:http.request.method} %{NOTSPACE:url.original}(?: HTTP/%{NUMBER:http.version})?|%{DATA})" (?:-|%{INT:http.response.status_code:int}) (?:-|%{INT:http.response.body.bytes:int})`,
	"HTTPD_COMBINEDLOG": `%{HTTPD_COMMONLOG} "(?:-|%{DATA:http.request.referrer})" "(?:-|%{DATA:user_agent.original})"`,
	"HTTPD20_ERRORLOG":  `\[%{HTTPDERROR_DATE:timestamp}\] \[%{LOGLEVEL:log.level}\] (?:\[client %{IPORHOST:source.address}\] )?%{GREEDYDATA:message}`,
	"HTTPD24_ERRORLOG":  `\[%{HTTPDERROR_DATE:timestamp}\] \[(?:%{WORD:apache.error.module})?:%{LOGLEVEL:log.level}\] \[pid %{POSINT:process.pid:int}(?::tid %{INT:process.thread.id:int})?\](?: \(%{POSINT:apache.error.proxy.error.code?}\)%{DATA:apache.error.proxy.error.message}:)?(?: \[client %{IPORHOST:source.address}(?::%{POSINT:source.port:int})?\])?(?: %{DATA:error.code}:)? %{GREEDYDATA:message}`,
	"HTTPD_ERRORLOG":    `(?:%{HTTPD20_ERRORLOG}|%{HTTPD24_ERRORLOG})`,
	"COMMONAPACHELOG":   `%{HTTPD_COMMONLOG}`,
	"COMBINEDAPACHELOG": `%{HTTPD_COMBINEDLOG}`,
	"NGINX_ERRORLOG":    `%{DATESTAMP_NGINX:timestamp} \[%{LOGLEVEL:log.level}\] %{POSINT:process.pid:int}#%{NONNEGINT:process.thread.id:int}: (?:\*%{NONNEGINT:nginx.error.connection_id:int} )?%{GREEDYDATA:message}`,
	"DATESTAMP_NGINX":   `%{YEAR}/%{MONTHNUM2}/%{MONTHDAY} %{TIME}`,
	// Java.
	"JAVACLASS":          `(?:[a-zA-Z$_][a-zA-Z$_0-9]*\.)*[a-zA-Z$_][a-zA-Z$_0-9]*`,
	"JAVAFILE":           `(?:[a-zA-Z$_0-9. -]+)`,
	"JAVAMETHOD":         `(?:<(?:cl)?init>|[a-zA-Z$_][a-zA-Z$_0-9]*)`,
	"JAVASTACKTRACEPART": `\s*at %{JAVACLASS:java.log.origin.class.name}\.%{JAVAMETHOD:log.origin.function}\(%{JAVAFILE:log.origin.file.name}(?::%{INT:log.origin.file.line:int})?\)`,
	"JAVATHREAD":         `(?:[A-Z]{2}-Processor[\d]+)`,
	"JAVALOGMESSAGE":     `.*`,
	"CATALINA_DATESTAMP": `%{MONTH} %{MONTHDAY}, %{YEAR} %{HOUR}:%{MINUTE}:%{SECOND} (?:AM|PM)`,
	"TOMCAT_DATESTAMP":   `%{YEAR}-%{MONTHNUM}-%{MONTHDAY} %{HOUR}:%{MINUTE}:%{SECOND}(?: %{ISO8601_TIMEZONE})?`,
	"CATALINALOG":        `%{CATALINA_DATESTAMP:timestamp} %{JAVACLASS:java.log.origin.class.name}(?: %{JAVAMETHOD:log.origin.function})?\s*(?:%{LOGLEVEL:log.level}:)? %{JAVALOGMESSAGE:message}`,
	"TOMCATLOG":          `%{TOMCAT_DATESTAMP:timestamp} \| %{LOGLEVEL:log.level} \| %{JAVACLASS:java.log.origin.class.name} - %{JAVALOGMESSAGE:message}`,
}

// Patterns lists the names of the built-in patterns, for documentation and
// error messages.
func Patterns() []string {
	return slices.Sorted(maps.Keys(builtins))
}

var definitionName = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// grok expands references against the built-ins and a dataset's own
// definitions (which may replace a built-in).
type grok struct {
	defs map[string]string
}

func newGrok(custom map[string]string) (*grok, error) {
	if len(custom) > MaxDefinitions {
		return nil, &ConfigError{"pattern_definitions", fmt.Errorf("at most %d definitions; got %d", MaxDefinitions, len(custom))}
	}
	g := &grok{defs: builtins}
	if len(custom) == 0 {
		return g, nil
	}
	g.defs = maps.Clone(builtins)
	total := 0
	for _, def := range custom {
		total += len(def)
	}
	if total > MaxDefinitionsLen {
		return nil, &ConfigError{"pattern_definitions", fmt.Errorf("at most %d bytes in all; got %d", MaxDefinitionsLen, total)}
	}
	for _, name := range slices.Sorted(maps.Keys(custom)) {
		def := custom[name]
		field := "pattern_definitions[" + clip(name) + "]"
		if !definitionName.MatchString(name) {
			return nil, &ConfigError{field, errors.New("a name is an upper case letter, then up to 63 upper case letters, digits and '_'")}
		}
		if len(def) > MaxPatternLen {
			return nil, &ConfigError{field, fmt.Errorf("at most %d bytes; got %d", MaxPatternLen, len(def))}
		}
		g.defs[name] = def
	}
	// Each definition must expand within the bounds and be valid RE2 on its
	// own, so that an error names the definition rather than the pattern
	// using it. Only the patterns are compiled: compiling every definition
	// expanded would cost up to MaxDefinitions times a maximal compile.
	for _, name := range slices.Sorted(maps.Keys(custom)) {
		if err := g.check(custom[name]); err != nil {
			return nil, &ConfigError{"pattern_definitions[" + name + "]", err}
		}
	}
	return g, nil
}

// check expands a definition (bounded, no compile) and parses its own text
// with its references as empty groups.
func (g *grok) check(def string) error {
	if err := (&expander{g: g, fieldless: true}).expand(def, 0); err != nil {
		return err
	}
	x := &expander{g: g, fieldless: true, shallow: true}
	if err := x.expand(namedGroup.ReplaceAllString(def, "("), 0); err != nil {
		return err
	}
	if _, err := syntax.Parse(x.out.String(), syntax.Perl); err != nil {
		return compileError(err, def)
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > maxErrorFragment {
		return s[:maxErrorFragment] + "…"
	}
	return s
}

// expander writes an expansion within MaxExpandedLen.
type expander struct {
	g      *grok
	out    strings.Builder
	groups []*group
	// fieldless: captures are not fields (a definition checked on its own).
	fieldless bool
	// shallow: references become empty groups (a definition's own syntax).
	shallow bool
}

var errTooLarge = fmt.Errorf("expands to more than %d bytes; use fewer or smaller %%{…} references", MaxExpandedLen)

// expand writes src with its references replaced.
func (x *expander) expand(src string, depth int) error {
	if depth > maxReferenceDepth {
		return errors.New("%{…} references nest more than 16 deep (a definition that refers to itself?)")
	}
	for {
		i := strings.Index(src, "%{")
		if i < 0 {
			break
		}
		if err := x.write(src[:i]); err != nil {
			return err
		}
		end := strings.IndexByte(src[i:], '}')
		if end < 0 {
			return errors.New("unterminated %{ reference")
		}
		ref := src[i+2 : i+end]
		src = src[i+end+1:]
		name, field, conv, err := splitReference(ref)
		if err != nil {
			return err
		}
		def, ok := x.g.defs[name]
		if !ok {
			return fmt.Errorf("unknown pattern %%{%s}; define it in pattern_definitions or use a built-in one: %s", clip(name), strings.Join(Patterns(), ", "))
		}
		if x.shallow {
			if err := x.write("(?:)"); err != nil {
				return err
			}
			continue
		}
		if field == "" || x.fieldless {
			if err := x.write("(?:"); err != nil {
				return err
			}
		} else {
			x.groups = append(x.groups, &group{field: field, convert: conv, unquote: name == "QS" || name == "QUOTEDSTRING"})
			if err := x.write("(?P<" + reservedGroupStart + strconv.Itoa(len(x.groups)-1) + ">"); err != nil {
				return err
			}
		}
		if err := x.expand(def, depth+1); err != nil {
			return err
		}
		if err := x.write(")"); err != nil {
			return err
		}
	}
	return x.write(src)
}

func (x *expander) write(s string) error {
	if x.out.Len()+len(s) > MaxExpandedLen {
		return errTooLarge
	}
	x.out.WriteString(s)
	return nil
}

// splitReference reads NAME[:field[:type]]; a field may be dotted
// (source.address) or Logstash's bracketed form ([source][address]).
func splitReference(ref string) (name, field, conv string, err error) {
	name, rest, _ := strings.Cut(ref, ":")
	if !definitionName.MatchString(name) {
		return "", "", "", fmt.Errorf("%%{%s}: a pattern name is upper case letters, digits and '_'", clip(ref))
	}
	if rest == "" {
		return name, "", "", nil
	}
	field, conv, _ = strings.Cut(rest, ":")
	switch conv {
	case "", "int", "long", "float", "bool":
	default:
		return "", "", "", fmt.Errorf("%%{%s}: type %q is not int, long, float or bool", clip(ref), clip(conv))
	}
	field = strings.TrimSuffix(field, "?") // Logstash's optional marker is implied here
	if strings.HasPrefix(field, "[") {
		field = strings.ReplaceAll(strings.Trim(field, "[]"), "][", ".")
	}
	if field == "" || strings.ContainsAny(field, " []{}") {
		return "", "", "", fmt.Errorf("%%{%s}: %q is not a field name", clip(ref), clip(field))
	}
	return name, fieldName(field), conv, nil
}

// namedGroup finds Go's (?P<name> and (?<name> groups whose names Go refuses
// (dotted ECS names), to turn them into generated groups.
var namedGroup = regexp.MustCompile(`\(\?P?<([A-Za-z_@][A-Za-z0-9_.@]*)>`)

// compile expands and compiles one pattern.
func (g *grok) compile(src string, fieldless bool) (*pattern, error) {
	if len(src) > MaxPatternLen {
		return nil, fmt.Errorf("at most %d bytes; got %d", MaxPatternLen, len(src))
	}
	x := &expander{g: g, fieldless: fieldless}
	var err error
	src = namedGroup.ReplaceAllStringFunc(src, func(m string) string {
		name := namedGroup.FindStringSubmatch(m)[1]
		if strings.HasPrefix(name, reservedGroupStart) {
			err = fmt.Errorf("group names starting with %q are reserved", reservedGroupStart)
		}
		if fieldless {
			return "("
		}
		x.groups = append(x.groups, &group{field: fieldName(name)})
		return "(?P<" + reservedGroupStart + strconv.Itoa(len(x.groups)-1) + ">"
	})
	if err != nil {
		return nil, err
	}
	if err := x.expand(src, 0); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(x.out.String())
	if err != nil {
		return nil, compileError(err, src)
	}
	p := &pattern{re: re, groups: make([]*group, re.NumSubexp()+1)}
	for i, name := range re.SubexpNames() {
		if !strings.HasPrefix(name, reservedGroupStart) {
			continue
		}
		n, err := strconv.Atoi(name[len(reservedGroupStart):])
		if err != nil || n >= len(x.groups) {
			return nil, fmt.Errorf("group names starting with %q are reserved", reservedGroupStart)
		}
		p.groups[i] = x.groups[n]
	}
	return p, nil
}

// compileError says what RE2 refused without repeating the expanded
// expression (which may be huge, and is not what the user wrote): the
// fragment is quoted only when short and part of the user's own text.
func compileError(err error, src string) error {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return errors.New("not a valid RE2 expression")
	}
	if se.Expr != "" && len(se.Expr) <= maxErrorFragment && strings.Contains(src, se.Expr) {
		return fmt.Errorf("%s: %s", se.Code, se.Expr)
	}
	return fmt.Errorf("%s (RE2 syntax)", se.Code)
}

// mustExpand expands built-in references without fields, for this package's
// own regexps.
func mustExpand(src string) string {
	x := &expander{g: &grok{defs: builtins}, fieldless: true}
	if err := x.expand(src, 0); err != nil {
		panic(err)
	}
	return x.out.String()
}
