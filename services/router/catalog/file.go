package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Config is the router's configuration file:
//
//	defaults:                  # for datasets that leave topic settings out
//	  topic:
//	    partitions: 6          # 0: the broker's default
//	    replication_factor: 3  # 0: the broker's default
//	    retention: 7d          # Go duration or days ("7d"); 0: the broker's default
//	    retention_bytes: 0     # per partition; 0: the broker's default
//	    compression: zstd      # zstd, lz4, snappy, gzip, producer, uncompressed
//	datasets:
//	  - name: nginx.access
//	    description: front proxies
//	    parser:
//	      format: combined     # raw, json, logfmt, combined, rfc3164, rfc5424, regex
//	      pattern: ""          # regex only: RE2 with grok %{NAME:field[:int|long|float|bool]}
//	      patterns: []         # regex only: more alternatives, tried in order (first match wins)
//	      pattern_definitions: {}  # regex only: NAME: regexp, usable as %{NAME}
//	      timestamp_field: ""  # default @timestamp, timestamp, time, ts
//	      timestamp_layout: "" # Go, strftime (%Y-%m-%d) or Joda (yyyy-MM-dd) layout, RFC3339, HTTPDATE, UNIX, UNIX_MS, UNIX_US, UNIX_NS; empty detects
//	      timestamp_layouts: []    # more layouts, tried in order
//	      timezone: UTC        # for times without an offset
//	      preset: ""           # json/logfmt keys of: journald, otel, bunyan, pino, ecs, logrus, zap, slog
//	      message_field: ""    # dotted path of the message (level_field, service_field alike)
//	      envelope: none       # none, docker, cri, auto: a container runtime's wrapping removed first
//	      extra_fields: []     # combined only: names[:type] of the words after the user agent
//	      processors:          # applied in order to each event
//	        - {op: rename, field: sev, to: log.level}
//	        - {op: map, field: log.level, mapping: {d: debug, e: error}}
//	        - {op: drop, when: {field: url.original, op: equals, value: /healthz}}
//	    topic:
//	      name: logs.nginx.access   # default logs.<dataset>
//	      retention: 14d
//	routes:
//	  - name: nginx-5xx
//	    dataset: nginx.access
//	    priority: 10           # lower first; the first matching route wins
//	    topic: logs.nginx.errors
//	    copy: true             # also to the dataset's own topic
//	    conditions:            # all must hold
//	      - {field: http.response.status_code, op: matches, value: "^5"}
//
// Unknown keys are errors, so that a typo does not silently change nothing.
type Config struct {
	// Path is the file it was read from ("" when parsed from memory), named
	// in the errors that refuse API changes to the datasets it declares.
	Path     string
	Defaults Defaults
	// Datasets have the defaults applied.
	Datasets []*routingv1.Dataset
	Routes   []*routingv1.Route
}

type fileConfig struct {
	Defaults struct {
		Topic fileTopic `yaml:"topic"`
	} `yaml:"defaults"`
	Datasets []fileDataset `yaml:"datasets"`
	Routes   []fileRoute   `yaml:"routes"`
}

type fileDataset struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Parser      fileParser `yaml:"parser"`
	Topic       fileTopic  `yaml:"topic"`
}

type fileParser struct {
	Format             string            `yaml:"format"`
	Pattern            string            `yaml:"pattern"`
	Patterns           []string          `yaml:"patterns"`
	PatternDefinitions map[string]string `yaml:"pattern_definitions"`
	TimestampField     string            `yaml:"timestamp_field"`
	TimestampLayout    string            `yaml:"timestamp_layout"`
	TimestampLayouts   []string          `yaml:"timestamp_layouts"`
	Timezone           string            `yaml:"timezone"`
	Preset             string            `yaml:"preset"`
	MessageField       string            `yaml:"message_field"`
	LevelField         string            `yaml:"level_field"`
	ServiceField       string            `yaml:"service_field"`
	Envelope           string            `yaml:"envelope"`
	ExtraFields        []string          `yaml:"extra_fields"`
	Processors         []fileProcessor   `yaml:"processors"`
}

type fileProcessor struct {
	Op      string            `yaml:"op"`
	Field   string            `yaml:"field"`
	To      string            `yaml:"to"`
	Value   string            `yaml:"value"`
	Mapping map[string]string `yaml:"mapping"`
	When    *fileCondition    `yaml:"when"`
}

type fileTopic struct {
	Name              string `yaml:"name"`
	Partitions        int32  `yaml:"partitions"`
	ReplicationFactor int32  `yaml:"replication_factor"`
	Retention         string `yaml:"retention"`
	RetentionBytes    int64  `yaml:"retention_bytes"`
	Compression       string `yaml:"compression"`
}

type fileRoute struct {
	Name       string          `yaml:"name"`
	Dataset    string          `yaml:"dataset"`
	Priority   int32           `yaml:"priority"`
	Topic      string          `yaml:"topic"`
	Copy       bool            `yaml:"copy"`
	Conditions []fileCondition `yaml:"conditions"`
}

type fileCondition struct {
	Field string `yaml:"field"`
	Op    string `yaml:"op"`
	Value string `yaml:"value"`
}

// formats and ops accept short names as well as the enum names.
var (
	formats = map[string]routingv1.Parser_Format{
		"": routingv1.Parser_FORMAT_UNSPECIFIED, "raw": routingv1.Parser_FORMAT_UNSPECIFIED,
		"json": routingv1.Parser_FORMAT_JSON, "logfmt": routingv1.Parser_FORMAT_LOGFMT,
		"combined": routingv1.Parser_FORMAT_COMBINED, "common": routingv1.Parser_FORMAT_COMBINED,
		"rfc3164": routingv1.Parser_FORMAT_SYSLOG_RFC3164, "syslog": routingv1.Parser_FORMAT_SYSLOG_RFC3164,
		"rfc5424": routingv1.Parser_FORMAT_SYSLOG_RFC5424, "regex": routingv1.Parser_FORMAT_REGEX,
	}
	ops = map[string]routingv1.Condition_Op{
		"equals": routingv1.Condition_OP_EQUALS, "not_equals": routingv1.Condition_OP_NOT_EQUALS,
		"exists": routingv1.Condition_OP_EXISTS, "matches": routingv1.Condition_OP_MATCHES,
	}
)

func init() {
	for n, v := range routingv1.Parser_Format_value {
		formats[n] = routingv1.Parser_Format(v)
	}
	for n, v := range routingv1.Condition_Op_value {
		ops[n] = routingv1.Condition_Op(v)
	}
}

// LoadConfig reads and checks a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// ParseConfig reads and checks a configuration; errors name the entry and
// field, e.g. "datasets[2].parser.pattern".
func ParseConfig(b []byte) (*Config, error) {
	var f fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var errs []error
	c := &Config{}

	def, err := f.Defaults.Topic.settings()
	if err != nil {
		errs = append(errs, fmt.Errorf("defaults.topic.retention: %w", err))
	}
	if def.GetTopic() != "" {
		errs = append(errs, errors.New("defaults.topic.name: a topic name cannot be a default"))
	}
	c.Defaults = Defaults{Topic: def}
	if err := validateDataset(&routingv1.Dataset{Name: "defaults", Topic: withName(def, "logs.defaults")}, "defaults"); err != nil {
		errs = append(errs, err)
	}

	seen := map[string]bool{}
	for i, fd := range f.Datasets {
		at := fmt.Sprintf("datasets[%d]", i)
		d, err := fd.dataset()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", at, err))
			continue
		}
		c.Defaults.apply(d)
		if err := validateDataset(d, at); err != nil {
			errs = append(errs, err)
		}
		if seen[d.Name] {
			errs = append(errs, fmt.Errorf("%s.name: dataset %q declared twice", at, d.Name))
		}
		seen[d.Name] = true
		c.Datasets = append(c.Datasets, d)
	}
	seen = map[string]bool{}
	for i, fr := range f.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		r, err := fr.route()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", at, err))
			continue
		}
		if err := validateRoute(r, at); err != nil {
			errs = append(errs, err)
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("%s.name: route %q declared twice", at, r.Name))
		}
		seen[r.Name] = true
		c.Routes = append(c.Routes, r)
	}
	return c, errors.Join(errs...)
}

func withName(t *routingv1.TopicSettings, name string) *routingv1.TopicSettings {
	t = proto.Clone(t).(*routingv1.TopicSettings)
	t.Topic = name
	return t
}

func (fd fileDataset) dataset() (*routingv1.Dataset, error) {
	format, ok := formats[strings.ToLower(fd.Parser.Format)]
	if !ok {
		format, ok = formats[fd.Parser.Format]
	}
	if !ok {
		return nil, fmt.Errorf("parser.format: %q is not raw, json, logfmt, combined, rfc3164, rfc5424 or regex", fd.Parser.Format)
	}
	topic, err := fd.Topic.settings()
	if err != nil {
		return nil, fmt.Errorf("topic.retention: %w", err)
	}
	fp := fd.Parser
	envelope, ok := enumValue(routingv1.Parser_Envelope_value, "ENVELOPE_", fp.Envelope)
	if !ok {
		return nil, fmt.Errorf("parser.envelope: %q is not none, docker, cri or auto", fp.Envelope)
	}
	p := &routingv1.Parser{
		Format:             format,
		Pattern:            fp.Pattern,
		Patterns:           fp.Patterns,
		PatternDefinitions: fp.PatternDefinitions,
		TimestampField:     fp.TimestampField,
		TimestampLayout:    fp.TimestampLayout,
		TimestampLayouts:   fp.TimestampLayouts,
		Timezone:           fp.Timezone,
		Preset:             fp.Preset,
		MessageField:       fp.MessageField,
		LevelField:         fp.LevelField,
		ServiceField:       fp.ServiceField,
		Envelope:           routingv1.Parser_Envelope(envelope),
		ExtraFields:        fp.ExtraFields,
	}
	for i, fs := range fp.Processors {
		op, ok := enumValue(routingv1.Processor_Op_value, "OP_", fs.Op)
		if !ok || op == 0 {
			return nil, fmt.Errorf("parser.processors[%d].op: %q is not rename, remove, copy, set, lowercase, map or drop", i, fs.Op)
		}
		step := &routingv1.Processor{Op: routingv1.Processor_Op(op), Field: fs.Field, To: fs.To, Value: fs.Value, Mapping: fs.Mapping}
		if fs.When != nil {
			if step.When, err = fs.When.condition(); err != nil {
				return nil, fmt.Errorf("parser.processors[%d].when.%w", i, err)
			}
		}
		p.Processors = append(p.Processors, step)
	}
	return &routingv1.Dataset{
		Name:        fd.Name,
		Description: fd.Description,
		Parser:      p,
		Topic:       topic,
	}, nil
}

// enumValue reads an enum by its short lower-case name ("docker") or its
// proto name ("ENVELOPE_DOCKER"); "" is the zero value.
func enumValue(values map[string]int32, prefix, name string) (int32, bool) {
	if name == "" {
		return 0, true
	}
	if v, ok := values[name]; ok {
		return v, true
	}
	v, ok := values[prefix+strings.ToUpper(name)]
	return v, ok
}

func (ft fileTopic) settings() (*routingv1.TopicSettings, error) {
	t := &routingv1.TopicSettings{
		Topic:             ft.Name,
		Partitions:        ft.Partitions,
		ReplicationFactor: ft.ReplicationFactor,
		RetentionBytes:    ft.RetentionBytes,
		Compression:       ft.Compression,
	}
	if ft.Retention != "" {
		d, err := parseDuration(ft.Retention)
		if err != nil {
			return t, err
		}
		t.Retention = durationpb.New(d)
	}
	return t, nil
}

// parseDuration reads a Go duration, or a whole number of days ("7d"), the
// unit retention is usually thought in.
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a Go duration (168h) nor days (7d)", s)
	}
	return d, nil
}

func (fr fileRoute) route() (*routingv1.Route, error) {
	r := &routingv1.Route{Name: fr.Name, Dataset: fr.Dataset, Priority: fr.Priority, Topic: fr.Topic, Copy: fr.Copy}
	for i, fc := range fr.Conditions {
		c, err := fc.condition()
		if err != nil {
			return nil, fmt.Errorf("conditions[%d].%w", i, err)
		}
		r.Conditions = append(r.Conditions, c)
	}
	return r, nil
}

func (fc fileCondition) condition() (*routingv1.Condition, error) {
	op, ok := ops[strings.ToLower(fc.Op)]
	if !ok {
		op, ok = ops[fc.Op]
	}
	if !ok {
		return nil, fmt.Errorf("op: %q is not equals, not_equals, exists or matches", fc.Op)
	}
	return &routingv1.Condition{Field: fc.Field, Op: op, Value: fc.Value}, nil
}

// Seed applies the configuration: its datasets are declarative, written
// into etcd wherever etcd differs from the file (every start re-applies
// them, and from now on the Store refuses to change or delete them through
// the API); then its routes, only those etcd lacks, or with overwrite every
// one that differs from the file.
func (s *Store) Seed(ctx context.Context, c *Config, overwrite bool) error {
	s.declare(c)
	var errs []error
	for _, d := range c.Datasets {
		errs = append(errs, seed(ctx, s, datasets, d, true, noCmps, nil))
	}
	for _, r := range c.Routes {
		errs = append(errs, seed(ctx, s, routes, r, overwrite, s.datasetExists, unknownDataset))
	}
	return errors.Join(errs...)
}

func seed[T proto.Message](ctx context.Context, s *Store, k kind[T], m T, overwrite bool,
	cmps func(T) []clientv3.Cmp, failedCmp func(T) error) error {
	m = stamped(m)
	name := m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName("name")).String()
	created, exists, err := s.create(ctx, s.prefix+k.dir+name, m, cmps(m)...)
	switch {
	case err != nil:
	case created:
		s.log.Info("seeded from the configuration file", k.field, name)
	case !exists:
		err = failedCmp(m)
	case overwrite:
		var cur T
		if cur, _, err = get(ctx, s, k, name); err == nil && !sameIgnoringTime(cur, m) {
			_, err = update(ctx, s, k, name, func(T) (T, error) { return m, nil }, cmps, failedCmp)
			s.log.Info("overwritten from the configuration file", k.field, name, "err", err)
		}
	}
	if err != nil {
		return fmt.Errorf("seeding %s %q: %w", k.field, name, err)
	}
	return nil
}

// stamped is m with update_time set to now, if it has one.
func stamped[T proto.Message](m T) T {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("update_time")
	if fd == nil {
		return m
	}
	m = proto.Clone(m).(T)
	m.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(timestamppb.Now().ProtoReflect()))
	return m
}

// sameIgnoringTime compares two entries but for their update_time.
func sameIgnoringTime[T proto.Message](a, b T) bool {
	fd := a.ProtoReflect().Descriptor().Fields().ByName("update_time")
	if fd == nil {
		return proto.Equal(a, b)
	}
	a, b = proto.Clone(a).(T), proto.Clone(b).(T)
	a.ProtoReflect().Clear(fd)
	b.ProtoReflect().Clear(fd)
	return proto.Equal(a, b)
}
