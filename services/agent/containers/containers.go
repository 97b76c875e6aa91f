// Package containers makes every container's log a harvester input, as
// Filebeat's container input with add_docker_metadata does: it finds the
// json-file logs under the Docker engine's containers directory
// (<dir>/<id>/<id>-json.log and its rotated <id>-json.log.N, or .N.gz with
// the driver's compress=true, which the harvester knows as the plain file
// it was made from, so read once), and asks the engine for each
// container's name, image and labels, which every batch of its lines
// carries as labels (container.id, container.name,
// container.image.name, container.labels.<label with '.' as '_'>, so
// com.docker.compose.service is container.labels.com_docker_compose_service).
// The harvester decodes the envelopes (stream, time, partial lines).
//
// The engine is asked once per container: a running input keeps its
// metadata through an engine restart. A new container waits for its
// metadata up to MetadataWait while the engine does not answer (an agent
// started before the engine, an engine restarting), then is read with
// container.id only, its metadata added to later batches once the engine
// answers.
package containers

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/agent/harvester"
)

// Docker is the part of the Engine API client the discovery uses.
type Docker interface {
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

var _ Docker = (*client.Client)(nil)

// Labels set on a container that steer its logs.
const (
	// LabelDataset is the dataset of the container's lines (default Options.Dataset).
	LabelDataset = "hindsight.dataset"
	// LabelParser is the parser hint of the container's lines.
	LabelParser = "hindsight.parser"
)

// Options configure a Discovery.
type Options struct {
	// Dir is the engine's containers directory.
	Dir string
	// Dataset is the dataset of a container's lines unless its label
	// hindsight.dataset names another.
	Dataset string
	// MetadataWait is how long a new container's log waits for its metadata
	// while the engine does not answer.
	MetadataWait time.Duration
	// UnknownGrace is how long the engine may answer that it has no
	// container of a directory's id before the directory is taken for one
	// left by an earlier engine and read with the id alone (default 10s):
	// the engine makes a new container's directory before it knows the
	// container by its id.
	UnknownGrace time.Duration
	// CallTimeout bounds each call to the engine.
	CallTimeout time.Duration
	Log         *slog.Logger
}

// Discovery finds the containers' logs; it is a harvester.Discovery.
type Discovery struct {
	docker Docker
	opts   Options
	known  map[string]*containerState // by id, for the containers whose directory is there
}

// containerState is what the discovery knows of one container.
type containerState struct {
	first time.Time
	// inspected: the engine answered (the container, or that it has none
	// by that id); labels and dataset are then final.
	inspected bool
	labels    map[string]string
	dataset   string
	parser    string
	refused   bool // its dataset label was not a dataset name (warned once)
}

var containerID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// New returns a discovery of the containers under opts.Dir.
func New(docker Docker, opts Options) *Discovery {
	opts.CallTimeout = cmp.Or(opts.CallTimeout, 2*time.Second)
	opts.UnknownGrace = cmp.Or(opts.UnknownGrace, 10*time.Second)
	opts.Log = cmp.Or(opts.Log, slog.Default())
	return &Discovery{docker: docker, opts: opts, known: map[string]*containerState{}}
}

// Discover lists the containers' directories and returns an input for each
// container whose metadata is known or waited for long enough.
func (d *Discovery) Discover(ctx context.Context) []harvester.Input {
	ents, err := os.ReadDir(d.opts.Dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.opts.Log.Warn("cannot list the containers directory", "dir", d.opts.Dir, "err", err)
		}
		return nil // not there yet: the engine has not started on this node
	}
	now := time.Now()
	present := map[string]bool{}
	engineDown := false
	var out []harvester.Input
	for _, e := range ents {
		id := e.Name()
		if !e.IsDir() || !containerID.MatchString(id) {
			continue
		}
		present[id] = true
		c := d.known[id]
		if c == nil {
			c = &containerState{first: now, dataset: d.opts.Dataset, labels: map[string]string{"container.id": id}}
			d.known[id] = c
		}
		if !c.inspected && !engineDown {
			engineDown = !d.inspect(ctx, id, c)
		}
		if !c.inspected && now.Sub(c.first) < d.opts.MetadataWait {
			continue // its lines wait in the file for the engine to answer
		}
		out = append(out, harvester.Input{
			Name:    "container/" + id, // a short id may be shared
			Dataset: c.dataset,
			Parser:  c.parser,
			Labels:  c.labels,
			Format:  "docker",
			Paths: []string{
				filepath.Join(d.opts.Dir, id, id+"-json.log"),
				filepath.Join(d.opts.Dir, id, id+"-json.log.*"),
			},
		})
	}
	for id := range d.known {
		if !present[id] {
			delete(d.known, id) // removed with its logs
		}
	}
	return out
}

// inspect asks the engine for c's metadata; it reports false when the
// engine did not answer.
func (d *Discovery) inspect(ctx context.Context, id string, c *containerState) bool {
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	res, err := d.docker.ContainerInspect(cctx, id, client.ContainerInspectOptions{})
	cancel()
	switch {
	case cerrdefs.IsNotFound(err):
		// A directory the engine does not know: a container being created
		// (asked again at the next scan), or, still unknown after the
		// grace, one left from an earlier engine, read with the id only.
		c.inspected = time.Since(c.first) >= d.opts.UnknownGrace
		return true
	case err != nil:
		d.opts.Log.Debug("inspect container", "container", id[:12], "err", err)
		return false
	}
	c.inspected = true
	ct := res.Container
	c.labels = map[string]string{"container.id": id, "container.name": strings.TrimPrefix(ct.Name, "/")}
	var labels map[string]string
	if ct.Config != nil {
		c.labels["container.image.name"] = ct.Config.Image
		labels = ct.Config.Labels
	}
	addLabels(c.labels, labels)
	if ds := labels[LabelDataset]; ds != "" {
		if harvester.ValidDataset(ds) {
			c.dataset = ds
		} else {
			d.opts.Log.Warn("container label hindsight.dataset is not a dataset name; its lines go to the default dataset",
				"container", c.labels["container.name"], "label", ds, "dataset", c.dataset)
		}
	}
	c.parser = labels[LabelParser]
	d.opts.Log.Info("container found", "container", c.labels["container.name"], "id", id[:12], "dataset", c.dataset)
	return true
}

// Bounds of what a batch may carry (the router's): labels per batch and
// bytes per key or value. A few are kept for container.id, name, image,
// stream and parser.
const (
	maxLabels    = 64 - 8
	maxLabelLen  = 1024
	composeLabel = "com.docker.compose."
)

// addLabels adds the container's labels as container.labels.<key> with
// dots as underscores (Filebeat's dedot: a label com.docker.compose.project
// and one named com.docker.compose would otherwise be a field and an object
// at once), compose's first, then by name, as many as a batch may carry.
func addLabels(dst, labels map[string]string) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ca, cb := strings.HasPrefix(a, composeLabel), strings.HasPrefix(b, composeLabel)
		if ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	n := 0
	for _, k := range keys {
		key := "container.labels." + strings.ReplaceAll(k, ".", "_")
		if n == maxLabels || len(key) > maxLabelLen {
			continue
		}
		v := labels[k]
		if len(v) > maxLabelLen {
			v = v[:maxLabelLen]
		}
		dst[key] = v
		n++
	}
}

// Flags turn the container logs input on and configure it.
type Flags struct {
	Enabled      bool
	Dir          string
	Dataset      string
	MetadataWait time.Duration
	Scan         time.Duration
	Max          int
}

// DefaultDir is the Docker engine's containers directory by default.
const DefaultDir = "/var/lib/docker/containers"

// Bind registers the flags, prefixed "harvester-containers" as they are
// the harvester's.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.BoolVar(&f.Enabled, "harvester-containers", false, "ship every Docker container's log (json-file driver) with the container's name, image and labels; the engine is found as the docker CLI finds it (DOCKER_HOST)")
	fs.StringVar(&f.Dir, "harvester-containers-dir", DefaultDir, "the Docker engine's containers directory (<data-root>/containers), mounted read-only when the agent runs in a container")
	fs.StringVar(&f.Dataset, "harvester-containers-dataset", "containers", "dataset of a container's lines unless its label hindsight.dataset names another")
	fs.DurationVar(&f.MetadataWait, "harvester-containers-metadata-wait", time.Minute, "how long a new container's log waits for its metadata while the engine does not answer; after it, it is read with container.id only")
	fs.DurationVar(&f.Scan, "harvester-containers-scan", 5*time.Second, "how often the containers directory is listed for new containers")
	fs.IntVar(&f.Max, "harvester-containers-max", 500, "containers read at most (each is a stream to the router with its own window of batches)")
}

// Dynamic is the harvester's discovery of the flags' containers; its Docker
// client is closed with s.
func (f *Flags) Dynamic(s *server.Server) (harvester.Dynamic, error) {
	if !harvester.ValidDataset(f.Dataset) {
		return harvester.Dynamic{}, fmt.Errorf("--harvester-containers-dataset %q: lower case letters, digits, '.', '_' and '-'", f.Dataset)
	}
	if f.Scan <= 0 || f.Max < 1 {
		return harvester.Dynamic{}, errors.New("--harvester-containers-scan and --harvester-containers-max: above 0")
	}
	docker, err := client.New(client.FromEnv)
	if err != nil {
		return harvester.Dynamic{}, fmt.Errorf("docker client: %w", err)
	}
	s.OnClose(func() { docker.Close() })
	log := s.Log.With("component", "containers")
	log.Info("container logs on", "dir", f.Dir, "docker_host", docker.DaemonHost(), "dataset", f.Dataset)
	d := New(docker, Options{Dir: f.Dir, Dataset: f.Dataset, MetadataWait: f.MetadataWait, Log: log})
	return harvester.Dynamic{Name: "containers", Find: d, Every: f.Scan, Max: f.Max}, nil
}
