package harvester

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/envelope"
)

// Config is the harvester's configuration file (YAML). Durations are Go
// durations ("250ms", "5m"); sizes are bytes.
type Config struct {
	// Host is host.name in every event's source: part of each event's id.
	// Default: the machine's host name.
	Host string `yaml:"host"`
	// Registry is the file that keeps each file's acknowledged offset.
	Registry string `yaml:"registry"`
	// FingerprintBytes is how many leading bytes identify a file (default
	// 1024). A file shorter than that is not read until it has grown to it.
	// Changing it makes every file new, so the registry refuses the change.
	FingerprintBytes int `yaml:"fingerprint_bytes"`
	// MaxLineBytes cuts longer lines (and multiline events), flagging them
	// truncated (default 256 KiB).
	MaxLineBytes int `yaml:"max_line_bytes"`
	// Routers are router gRPC addresses ("host:port"), used as they are, or
	// as the fallback when Membership is set and lists no healthy router.
	Routers []string `yaml:"routers"`
	// Membership is the membership service's gRPC address; when set, the
	// routers are the healthy members of RouterService.
	Membership    string `yaml:"membership"`
	RouterService string `yaml:"router_service"`
	Batch         Batch  `yaml:"batch"`
	// Window is how many batches per input may await acknowledgement; reading
	// pauses when it is full (default 8).
	Window int `yaml:"window"`
	// AckTimeout replaces a stream on which a batch waited this long for its
	// acknowledgement (default 2m: longer than a Kafka leader election).
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// Backoff paces reconnections to routers (default 100ms doubling to 10s).
	Backoff Backoff `yaml:"backoff"`
	// RegistryFlush is the most often the registry is written (default 1s; 0
	// writes after every acknowledgement). A crash repeats at most the lines
	// acknowledged in the last RegistryFlush.
	RegistryFlush time.Duration `yaml:"registry_flush"`
	// PollInterval is the longest an open file at its end waits before it is
	// checked again (default 250ms).
	PollInterval time.Duration `yaml:"poll_interval"`
	// CloseInactive closes a file that has not grown for this long (default
	// 5m); it is opened again when a scan finds it grown. This is what ends
	// the reading of a renamed file that no pattern matches.
	CloseInactive time.Duration `yaml:"close_inactive"`
	// ForgetAfter drops a file's registry entry once no scan has seen the file
	// for this long (default 24h). Until then a file that comes back (moved
	// back, restored) resumes where it was instead of being shipped again.
	ForgetAfter time.Duration `yaml:"forget_after"`
	// DrainTimeout is how long shutdown waits for the router to acknowledge
	// what was sent, so that the next start resends less (default 5s).
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	Inputs       []Input       `yaml:"inputs"`
	// DialOptions are added to every connection to the routers and to
	// membership: the agent's credentials (internal/auth).
	DialOptions []grpc.DialOption `yaml:"-"`
}

// Batch limits a batch of lines.
type Batch struct {
	// MaxLines (default 1000) and MaxBytes (default 1 MiB) send a batch when
	// reached; Linger (default 200ms) sends a batch that is not full.
	MaxLines int           `yaml:"max_lines"`
	MaxBytes int           `yaml:"max_bytes"`
	Linger   time.Duration `yaml:"linger"`
}

// Backoff paces reconnections.
type Backoff struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
}

// Input is a set of files of one dataset.
type Input struct {
	// Name identifies the input in metrics and logs (default: the dataset).
	Name string `yaml:"name"`
	// Paths are glob patterns (filepath.Match syntax) of the files to read.
	Paths []string `yaml:"paths"`
	// ExcludeFiles are glob patterns of files not to read, matched against the
	// whole path and against the base name ("*.gz").
	ExcludeFiles []string `yaml:"exclude_files"`
	// FollowSymlinks reads files that are symbolic links. Off by default:
	// the agent runs as root, and a link planted in a watched folder could
	// otherwise ship any file of the host (/etc/shadow) as logs.
	FollowSymlinks bool `yaml:"follow_symlinks"`
	// Dataset is the log type of every line, e.g. "nginx.access": the router
	// parses and routes by it.
	Dataset string `yaml:"dataset"`
	// Parser is a hint for the router, sent as the label "parser".
	Parser string `yaml:"parser"`
	// Labels are added to every event.
	Labels map[string]string `yaml:"labels"`
	// Multiline joins lines into events; absent, every line is an event.
	Multiline *Multiline `yaml:"multiline"`
	// IncludeLines, when set, keeps only the events matching one of these
	// regular expressions; ExcludeLines then drops those matching one of its.
	IncludeLines []string `yaml:"include_lines"`
	ExcludeLines []string `yaml:"exclude_lines"`
	// ScanInterval is how often the patterns are matched again (default 10s).
	ScanInterval time.Duration `yaml:"scan_interval"`
	// DatasetFolders makes the input a folder of datasets: every folder in
	// it is a dataset named after the folder (<dir>/nginx.access/), whose
	// files are those matching Paths taken relative to that folder (default
	// "*.log", "*/*.log", "*/*/*.log"). A folder made while the harvester
	// runs is picked up at the next scan, without a restart; each runs as
	// the input "<name>/<folder>" (its metrics and registry entries). Dataset
	// stays empty: the folder names it; a folder whose name is not a dataset
	// name is skipped with a warning.
	DatasetFolders string `yaml:"dataset_folders"`
	// MaxFolders bounds the datasets of DatasetFolders (default 100): each
	// is a stream to the router with its own window of batches.
	MaxFolders int `yaml:"max_folders"`
	// Format is the envelope around each line: "" (none: the line is the
	// message), "docker" (Docker's json-file log driver), "cri" (the CRI
	// log format of containerd and CRI-O) or "container" (either, told
	// apart per line). An envelope is decoded (partial lines joined, "\r\n"
	// stripped), its stream becomes the label "stream" and its time the
	// read time, the event time of lines that carry none.
	Format string `yaml:"format"`
}

// defaultFolderPaths are the files of each dataset of a DatasetFolders
// input, relative to its folder.
var defaultFolderPaths = []string{"*.log", filepath.Join("*", "*.log"), filepath.Join("*", "*", "*.log")}

// Multiline joins a line matching Start and the lines after it that do not.
type Multiline struct {
	Start string `yaml:"start"`
	// Timeout sends an event when no line has followed it for this long
	// (default 5s).
	Timeout time.Duration `yaml:"timeout"`
}

// maxMessageBytes keeps batches under the router's gRPC message limit (4 MiB).
const maxMessageBytes = 3 << 20

// ParserLabel is the label carrying an input's parser hint.
const ParserLabel = "parser"

// datasetName is the router's rule for dataset names.
var datasetName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// LoadConfig reads a YAML configuration file; unknown keys are errors, so
// that a misspelt option does not silently take its default.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// withDefaults fills what c leaves unset.
func (c Config) withDefaults() (Config, error) {
	if c.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("host name: %w", err)
		}
		c.Host = h
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.FingerprintBytes, 1024)
	def(&c.MaxLineBytes, 256<<10)
	def(&c.Batch.MaxLines, 1000)
	def(&c.Batch.MaxBytes, 1<<20)
	def(&c.Window, 8)
	defDur(&c.Batch.Linger, 200*time.Millisecond)
	defDur(&c.AckTimeout, 2*time.Minute)
	defDur(&c.Backoff.Initial, 100*time.Millisecond)
	defDur(&c.Backoff.Max, 10*time.Second)
	defDur(&c.PollInterval, 250*time.Millisecond)
	defDur(&c.CloseInactive, 5*time.Minute)
	defDur(&c.ForgetAfter, 24*time.Hour)
	defDur(&c.DrainTimeout, 5*time.Second)
	if c.RegistryFlush < 0 {
		c.RegistryFlush = 0
	}
	if c.RouterService == "" {
		c.RouterService = "router"
	}
	c.Inputs = append([]Input(nil), c.Inputs...)
	for i := range c.Inputs {
		c.Inputs[i] = c.Inputs[i].withDefaults()
	}
	return c, nil
}

func (in Input) withDefaults() Input {
	if in.Name == "" {
		in.Name = in.Dataset
		if in.DatasetFolders != "" {
			in.Name = filepath.Base(in.DatasetFolders)
		}
	}
	if in.ScanInterval == 0 {
		in.ScanInterval = 10 * time.Second
	}
	if in.DatasetFolders != "" {
		if len(in.Paths) == 0 {
			in.Paths = defaultFolderPaths
		}
		if in.MaxFolders == 0 {
			in.MaxFolders = 100
		}
	}
	if in.Multiline != nil {
		m := *in.Multiline
		if m.Timeout == 0 {
			m.Timeout = 5 * time.Second
		}
		in.Multiline = &m
	}
	return in
}

// validate checks c; dynamic says inputs will be discovered besides c's.
func (c Config) validate(dynamic bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Registry == "" {
		bad("registry: a file path is required")
	}
	if len(c.Routers) == 0 && c.Membership == "" {
		bad("routers or membership: where to ship is required")
	}
	if c.FingerprintBytes < 16 {
		bad("fingerprint_bytes %d: at least 16", c.FingerprintBytes)
	}
	if c.MaxLineBytes < 1 || c.MaxLineBytes > maxMessageBytes {
		bad("max_line_bytes %d: between 1 and %d", c.MaxLineBytes, maxMessageBytes)
	}
	if c.Batch.MaxBytes < 1 || c.Batch.MaxBytes > maxMessageBytes {
		bad("batch.max_bytes %d: between 1 and %d", c.Batch.MaxBytes, maxMessageBytes)
	}
	if c.Batch.MaxLines < 1 || c.Window < 1 {
		bad("batch.max_lines and window: at least 1")
	}
	if c.Backoff.Initial > c.Backoff.Max {
		bad("backoff.initial %v is above backoff.max %v", c.Backoff.Initial, c.Backoff.Max)
	}
	if len(c.Inputs) == 0 && !dynamic {
		bad("inputs: at least one")
	}
	names := map[string]bool{}
	for i, in := range c.Inputs {
		if names[in.Name] {
			bad("inputs[%d] (%s): name used twice", i, in.Name)
		}
		names[in.Name] = true
		if err := in.validate(c); err != nil {
			bad("inputs[%d] (%s): %w", i, in.Name, err)
		}
	}
	return errors.Join(errs...)
}

// validate checks one input (with its defaults) against the harvester's
// settings c.
func (in Input) validate(c Config) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if in.DatasetFolders != "" {
		if in.Dataset != "" {
			bad("dataset %q: leave it empty with dataset_folders (each folder names its dataset)", in.Dataset)
		}
		if in.MaxFolders < 1 {
			bad("max_folders %d: at least 1", in.MaxFolders)
		}
		for _, p := range in.Paths {
			if filepath.IsAbs(p) {
				bad("paths %q: relative to each folder of dataset_folders", p)
			}
		}
	} else if !datasetName.MatchString(in.Dataset) {
		bad("dataset %q: lower case letters, digits, '.', '_' and '-', at most 100", in.Dataset)
	}
	if len(in.Paths) == 0 {
		bad("paths: at least one glob pattern")
	}
	for _, p := range append(append([]string(nil), in.Paths...), in.ExcludeFiles...) {
		if _, err := filepath.Match(p, ""); err != nil {
			bad("pattern %q: %v", p, err)
		}
	}
	if _, err := envelope.ParseFormat(in.Format); err != nil {
		bad("format: %v", err)
	}
	if _, err := compileAll(in.IncludeLines); err != nil {
		bad("include_lines: %v", err)
	}
	if _, err := compileAll(in.ExcludeLines); err != nil {
		bad("exclude_lines: %v", err)
	}
	if m := in.Multiline; m != nil {
		if _, err := regexp.Compile(m.Start); err != nil || m.Start == "" {
			bad("multiline.start %q: a regular expression is required", m.Start)
		}
		if m.Timeout >= c.CloseInactive {
			bad("multiline.timeout %v must be below close_inactive %v", m.Timeout, c.CloseInactive)
		}
	}
	return errors.Join(errs...)
}

func compileAll(exprs []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, len(exprs))
	for i, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, err
		}
		out[i] = re
	}
	return out, nil
}

// ValidDataset reports whether name is a dataset name.
func ValidDataset(name string) bool { return datasetName.MatchString(name) }
