package harvester

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/envelope"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/shipper"
)

// input is one running input with its compiled filters and its shipping.
type input struct {
	Input
	include, exclude []*regexp.Regexp
	multiline        *regexp.Regexp
	format           envelope.Format
	m                inputMetrics
	batch            *batcher
	ship             *shipper.Shipper
}

// newInput builds the running form of ic, checked and with its defaults.
func (h *Harvester) newInput(ic Input) *input {
	in := &input{Input: ic}
	in.include, _ = compileAll(ic.IncludeLines)
	in.exclude, _ = compileAll(ic.ExcludeLines)
	in.format, _ = envelope.ParseFormat(ic.Format)
	if ic.Multiline != nil {
		in.multiline = regexp.MustCompile(ic.Multiline.Start)
	}
	var sm shipper.Metrics
	in.m, sm = h.m.forInput(ic.Name)
	in.ship = shipper.New(ic.Name, h.routers, h.pool, shipper.Options{
		Window:     h.cfg.Window,
		Backoff:    shipper.Backoff{Initial: h.cfg.Backoff.Initial, Max: h.cfg.Backoff.Max},
		AckTimeout: h.cfg.AckTimeout,
		Metrics:    sm,
		Log:        h.log,
	})
	in.batch = &batcher{dataset: ic.Dataset, host: h.cfg.Host, labels: batchLabels(ic), maxLines: h.cfg.Batch.MaxLines,
		maxBytes: h.cfg.Batch.MaxBytes, linger: h.cfg.Batch.Linger, ship: in.ship, dirty: h.markDirty}
	return in
}

// batchLabels are the labels of an input's batches: its own and its parser hint.
func batchLabels(ic Input) map[string]string {
	labels := maps.Clone(ic.Labels)
	if ic.Parser != "" {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ParserLabel] = ic.Parser
	}
	return labels
}

// startInput runs in: its shipper until shipCtx ends, its scans until ctx does.
func (h *Harvester) startInput(ctx, shipCtx context.Context, in *input) {
	h.mu.Lock()
	h.inputs[in.Name] = in
	h.m.inputs.Set(float64(len(h.inputs)))
	h.mu.Unlock()
	h.shippers.Go(func() { in.ship.Run(shipCtx) })
	in.batch.start(ctx)
	h.scans.Go(func() { h.scanLoop(ctx, in) })
}

// A Discovery finds inputs while the harvester runs: the folders of a
// dataset_folders input, the containers of the node (package containers).
type Discovery interface {
	// Discover returns the inputs there should be now, each with a name of
	// its own. One with a new name is started; one already running keeps
	// running, with the labels it has now (metadata that came late). One no
	// longer returned keeps running too, reading nothing once its files are
	// gone; their registry entries are forgotten ForgetAfter later.
	Discover(ctx context.Context) []Input
}

// Dynamic is a Discovery as New takes it: Find is asked for inputs every
// Every, and at most Max of those it finds run. Name is for logs.
type Dynamic struct {
	Name  string
	Find  Discovery
	Every time.Duration
	Max   int
}

// discoverLoop starts the inputs d finds until ctx is done.
func (h *Harvester) discoverLoop(ctx, shipCtx context.Context, d Dynamic) {
	started := map[string]*input{}
	refused := map[string]bool{} // warned about once
	t := time.NewTicker(d.Every)
	defer t.Stop()
	for {
		for _, ic := range d.Find.Discover(ctx) {
			if in := started[ic.Name]; in != nil {
				in.batch.setLabels(batchLabels(ic))
				continue
			}
			if refused[ic.Name] || ctx.Err() != nil {
				continue
			}
			err := h.checkDiscovered(ic, len(started), d.Max)
			if err != nil {
				refused[ic.Name] = true
				h.m.inputsRefused.Inc()
				h.log.Warn("input not started", "discovery", d.Name, "input", ic.Name, "err", err)
				continue
			}
			in := h.newInput(ic.withDefaults())
			started[ic.Name] = in
			h.startInput(ctx, shipCtx, in)
			h.log.Info("input started", "discovery", d.Name, "input", ic.Name, "dataset", ic.Dataset, "paths", ic.Paths)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Harvester) checkDiscovered(ic Input, started, max int) error {
	if started >= max {
		return fmt.Errorf("this discovery runs %d inputs already, its most", max)
	}
	if ic.DatasetFolders != "" {
		return errors.New("a discovered input cannot discover more")
	}
	h.mu.Lock()
	taken := h.inputs[ic.Name] != nil
	h.mu.Unlock()
	if taken {
		return errors.New("another input has this name")
	}
	return ic.withDefaults().validate(h.cfg)
}

// folders finds the datasets of a dataset_folders input: one input per
// folder, read with the input's settings and its paths inside the folder.
type folders struct {
	in      Input
	log     *slog.Logger
	skipped map[string]bool // folder names warned about
}

func (f *folders) Discover(context.Context) []Input {
	ents, err := os.ReadDir(f.in.DatasetFolders)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !f.skipped[""] {
			f.skipped[""] = true
			f.log.Warn("cannot list the dataset folders", "input", f.in.Name, "dir", f.in.DatasetFolders, "err", err)
		}
		return nil
	}
	var out []Input
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || name[0] == '.' {
			continue
		}
		if !datasetName.MatchString(name) {
			if !f.skipped[name] {
				f.skipped[name] = true
				f.log.Warn("folder skipped: not a dataset name (lower case letters, digits, '.', '_', '-')",
					"input", f.in.Name, "folder", name)
			}
			continue
		}
		sub := f.in
		sub.Name, sub.Dataset, sub.DatasetFolders = f.in.Name+"/"+name, name, ""
		sub.Paths = make([]string, len(f.in.Paths))
		for i, p := range f.in.Paths {
			sub.Paths[i] = filepath.Join(f.in.DatasetFolders, name, p)
		}
		out = append(out, sub)
	}
	return out
}
