package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
)

var errReplayFailed = errors.New("replay failed")

func (a *app) replayCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "replay",
		Aliases: []string{"replays"},
		Short:   "Create, list, inspect, wait for and delete replays of archived time ranges",
		Example: `  hindsight replay create incident-42 --dataset nginx.access --from 2026-12-01T10:00:00Z --to 2026-12-01T12:00:00Z --wait
  hindsight replay list
  hindsight replay wait incident-42
  hindsight search --replay incident-42 'http.response.status_code:500'
  hindsight replay delete incident-42`,
	}
	c.AddCommand(a.replayCreate(), a.replayList(), a.replayGet(), a.replayDelete(), a.replayWait())
	return c
}

// completeReplays offers the names of existing replays.
func (a *app) completeReplays(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	rc, err := a.replay()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	ctx, cancel := a.call(c.Context())
	defer cancel()
	resp, err := rc.ListReplays(ctx, &replayv1.ListReplaysRequest{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []string
	for _, r := range resp.GetReplays() {
		names = append(names, r.GetName())
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

var targetKinds = map[string]replayv1.Target_Kind{
	"default":              replayv1.Target_KIND_UNSPECIFIED,
	"embedded":             replayv1.Target_KIND_EMBEDDED,
	"opensearch-index":     replayv1.Target_KIND_OPENSEARCH_INDEX,
	"opensearch-container": replayv1.Target_KIND_OPENSEARCH_CONTAINER,
}

func (a *app) replayCreate() *cobra.Command {
	var (
		datasets      []string
		from, to      = timeValue{now: a.now}, timeValue{now: a.now}
		query, target string
		sourceURL     string
		maxEvents     int64
		ttl           time.Duration
		wait, dryRun  bool
		w             waitFlags
		out           format
	)
	c := &cobra.Command{
		Use:   "create NAME --dataset D --from T --to T",
		Short: "Replay a past time range of datasets from the archive into an isolated index",
		Long: `Creates a replay: the events of the datasets whose time is in [--from, --to)
(optionally only those matching --query) are read from the archive into an index
of their own, searchable with 'hindsight search --replay NAME' once READY.
Times are RFC 3339, a date (UTC midnight) or a duration ago (2h).`,
		Example: `  hindsight replay create yesterday --dataset nginx.access --from 2026-12-01 --to 2026-12-02
  hindsight replay create yesterday --dataset nginx.access --from 2026-12-01 --to 2026-12-02 --dry-run
  hindsight replay create errors-1h --dataset app --from 1h --to 0s --query 'log.level:error' --wait
  hindsight replay create big --dataset app --from 2026-11-01 --to 2026-11-08 --target opensearch-container --ttl 48h`,
		Args: exactArgs("NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			kind, ok := targetKinds[target]
			if !ok {
				return usagef("--target %q: want one of default, embedded, opensearch-index, opensearch-container", target)
			}
			r := &replayv1.Replay{
				Name:      args[0],
				Datasets:  datasets,
				Query:     query,
				MaxEvents: maxEvents,
				Target:    &replayv1.Target{Kind: kind},
			}
			if !from.t.IsZero() {
				r.From = timestamppb.New(from.t)
			}
			if !to.t.IsZero() {
				r.To = timestamppb.New(to.t)
			}
			if ttl > 0 {
				r.Ttl = durationpb.New(ttl)
			}
			if sourceURL != "" {
				r.Source = &replayv1.Source{Kind: replayv1.Source_KIND_ARCHIVE, Url: sourceURL}
			}
			rc, err := a.replay()
			if err != nil {
				return err
			}
			if dryRun {
				return a.estimate(c.Context(), rc, r, out)
			}
			ctx, cancel := a.call(c.Context())
			created, err := rc.CreateReplay(ctx, &replayv1.CreateReplayRequest{Replay: r})
			cancel()
			if err != nil {
				return err
			}
			if wait {
				if created, err = a.waitReady(c.Context(), rc, created.GetName(), w); err != nil {
					return err
				}
			}
			return a.printReplays(out, created)
		},
	}
	f := c.Flags()
	f.StringSliceVarP(&datasets, "dataset", "d", nil, "dataset to replay (repeat or comma-separate for several)")
	f.Var(&from, "from", "start of the range, inclusive")
	f.Var(&to, "to", "end of the range, exclusive")
	f.StringVarP(&query, "query", "q", "", "only events matching this query (search syntax)")
	f.Int64Var(&maxEvents, "max-events", 0, "load at most this many events (0: no cap)")
	f.DurationVar(&ttl, "ttl", 0, "delete the replay this long after creation (0: the server's default, 15 days)")
	f.StringVar(&target, "target", "default", "where the events go: default, embedded, opensearch-index, opensearch-container")
	f.StringVar(&sourceURL, "source-url", "", "archive URL to read (default: the server's archive)")
	f.BoolVar(&wait, "wait", false, "wait until READY, showing progress")
	f.BoolVar(&dryRun, "dry-run", false, "create nothing: print how many archive files, bytes and events the replay would read")
	w.bind(c)
	bindFormat(c, &out)
	_ = c.MarkFlagRequired("dataset")
	_ = c.MarkFlagRequired("from")
	_ = c.MarkFlagRequired("to")
	_ = c.RegisterFlagCompletionFunc("target", cobra.FixedCompletions([]string{"default", "embedded", "opensearch-index", "opensearch-container"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("dataset", a.completeDatasets)
	return c
}

// estimate prints what a replay would read.
func (a *app) estimate(ctx context.Context, rc replayv1.ReplayServiceClient, r *replayv1.Replay, out format) error {
	ctx, cancel := a.call(ctx)
	defer cancel()
	e, err := rc.EstimateReplay(ctx, &replayv1.EstimateReplayRequest{Replay: r})
	if err != nil {
		return err
	}
	if out != formatTable {
		return writeJSON(a.out, e)
	}
	events := fmt.Sprint(e.GetEvents())
	if e.GetEvents() < 0 {
		events = "unknown"
	}
	fmt.Fprintf(a.out, "replay %s would read %d files, %d bytes, %s events\n", r.GetName(), e.GetFiles(), e.GetBytes(), events)
	return nil
}

func (a *app) replayList() *cobra.Command {
	var out format
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List replays",
		Example: `  hindsight replay list
  hindsight replay list -o ndjson | jq -r 'select(.state == "STATE_READY") | .name'`,
		Args: exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			rc, err := a.replay()
			if err != nil {
				return err
			}
			var all []*replayv1.Replay
			token := ""
			for {
				ctx, cancel := a.call(c.Context())
				resp, err := rc.ListReplays(ctx, &replayv1.ListReplaysRequest{PageToken: token})
				cancel()
				if err != nil {
					return err
				}
				all = append(all, resp.GetReplays()...)
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if out == formatJSON {
				return writeJSON(a.out, &replayv1.ListReplaysResponse{Replays: all})
			}
			return a.printReplays(out, all...)
		},
	}
	bindFormat(c, &out)
	return c
}

func (a *app) replayGet() *cobra.Command {
	var out format
	c := &cobra.Command{
		Use:               "get NAME",
		Short:             "Show one replay: state, range, progress, where to search it",
		Example:           `  hindsight replay get yesterday -o json`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeReplays,
		RunE: func(c *cobra.Command, args []string) error {
			rc, err := a.replay()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(c.Context())
			defer cancel()
			r, err := rc.GetReplay(ctx, &replayv1.GetReplayRequest{Name: args[0]})
			if err != nil {
				return err
			}
			if out != formatTable {
				return a.printReplays(out, r)
			}
			return describeReplay(a, r)
		},
	}
	bindFormat(c, &out)
	return c
}

func (a *app) replayDelete() *cobra.Command {
	return &cobra.Command{
		Use:               "delete NAME...",
		Aliases:           []string{"rm"},
		Short:             "Delete replays and their indices",
		Example:           `  hindsight replay delete yesterday incident-42`,
		Args:              minArgs("NAME"),
		ValidArgsFunction: a.completeReplays,
		RunE: func(c *cobra.Command, args []string) error {
			rc, err := a.replay()
			if err != nil {
				return err
			}
			for _, name := range args {
				ctx, cancel := a.call(c.Context())
				_, err := rc.DeleteReplay(ctx, &replayv1.DeleteReplayRequest{Name: name})
				cancel()
				if err != nil {
					return fmt.Errorf("replay %s: %w", name, err)
				}
				fmt.Fprintf(a.out, "replay %s deleted\n", name)
			}
			return nil
		},
	}
}

// waitFlags: how `wait` and `create --wait` poll and show progress.
type waitFlags struct {
	interval   time.Duration
	timeout    time.Duration
	noProgress bool
}

func (w *waitFlags) bind(c *cobra.Command) {
	c.Flags().DurationVar(&w.interval, "poll-interval", 500*time.Millisecond, "how often to ask for progress while waiting")
	c.Flags().DurationVar(&w.timeout, "wait-timeout", 0, "give up waiting after this long (0: never)")
	c.Flags().BoolVar(&w.noProgress, "no-progress", false, "show no progress while waiting")
}

func (a *app) replayWait() *cobra.Command {
	var (
		w   waitFlags
		out format
	)
	c := &cobra.Command{
		Use:   "wait NAME",
		Short: "Wait until a replay is READY, with a progress bar (files, events, rate, ETA)",
		Long: `Polls the replay until it is READY (exit 0) or FAILED or EXPIRED (exit 7, with
the server's errors). While it loads, stderr shows files and events loaded, the
rate and the estimated time left: a bar on a terminal, one line per change otherwise.`,
		Example: `  hindsight replay wait yesterday
  hindsight replay wait yesterday --wait-timeout 10m --no-progress && hindsight search --replay yesterday error`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeReplays,
		RunE: func(c *cobra.Command, args []string) error {
			rc, err := a.replay()
			if err != nil {
				return err
			}
			r, err := a.waitReady(c.Context(), rc, args[0], w)
			if err != nil {
				return err
			}
			return a.printReplays(out, r)
		},
	}
	w.bind(c)
	bindFormat(c, &out)
	return c
}

// waitReady polls the replay until it is READY, reporting its progress.
func (a *app) waitReady(ctx context.Context, rc replayv1.ReplayServiceClient, name string, w waitFlags) (*replayv1.Replay, error) {
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	var p progress
	if !w.noProgress {
		p = newProgress(a.err, name)
	}
	defer func() {
		if p != nil {
			p.done()
		}
	}()
	tick := time.NewTicker(max(w.interval, 50*time.Millisecond))
	defer tick.Stop()
	for {
		cctx, cancel := a.call(ctx)
		r, err := rc.GetReplay(cctx, &replayv1.GetReplayRequest{Name: name})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("waiting for replay %s: %w", name, ctx.Err())
			}
			return nil, err
		}
		if p != nil {
			p.update(r)
		}
		switch r.GetState() {
		case replayv1.State_STATE_READY:
			return r, nil
		case replayv1.State_STATE_FAILED, replayv1.State_STATE_EXPIRED, replayv1.State_STATE_DELETING:
			return nil, fmt.Errorf("%w: %s is %s: %s", errReplayFailed, name, stateName(r.GetState()),
				strings.Join(r.GetProgress().GetErrors(), "; "))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for replay %s (%s): %w", name, stateName(r.GetState()), ctx.Err())
		case <-tick.C:
		}
	}
}

func stateName(s replayv1.State) string { return strings.TrimPrefix(s.String(), "STATE_") }

func (a *app) printReplays(out format, rs ...*replayv1.Replay) error {
	switch out {
	case formatJSON:
		if len(rs) == 1 {
			return writeJSON(a.out, rs[0])
		}
		return writeJSON(a.out, &replayv1.ListReplaysResponse{Replays: rs})
	case formatNDJSON:
		return writeNDJSON(a.out, rs)
	}
	t := newTable(a.out, "NAME", "STATE", "DATASETS", "FROM", "TO", "EVENTS", "FILES", "CREATOR")
	for _, r := range rs {
		p := r.GetProgress()
		t.row(r.GetName(), stateName(r.GetState()), strings.Join(r.GetDatasets(), ","),
			ts(r.GetFrom()), ts(r.GetTo()), fmt.Sprint(p.GetEventsLoaded()),
			fmt.Sprintf("%d/%d", p.GetFilesDone(), p.GetFilesTotal()), r.GetCreator())
	}
	return t.flush()
}

func describeReplay(a *app, r *replayv1.Replay) error {
	p := r.GetProgress()
	t := newTable(a.out, "FIELD", "VALUE")
	t.row("name", r.GetName())
	t.row("state", stateName(r.GetState()))
	t.row("datasets", strings.Join(r.GetDatasets(), ","))
	t.row("range", ts(r.GetFrom())+" .. "+ts(r.GetTo()))
	if r.GetQuery() != "" {
		t.row("query", r.GetQuery())
	}
	t.row("target", strings.TrimPrefix(r.GetTarget().GetKind().String(), "KIND_")+" "+r.GetTarget().GetAddress())
	t.row("files", fmt.Sprintf("%d/%d", p.GetFilesDone(), p.GetFilesTotal()))
	t.row("events", fmt.Sprintf("%d loaded, %d skipped", p.GetEventsLoaded(), p.GetEventsSkipped()))
	t.row("rate", fmt.Sprintf("%.0f events/s", p.GetEventsPerSecond()))
	t.row("creator", r.GetCreator())
	t.row("created", ts(r.GetCreateTime()))
	t.row("expires", ts(r.GetExpireTime()))
	if r.GetSearchUrl() != "" {
		t.row("search", r.GetSearchUrl())
	}
	for _, e := range p.GetErrors() {
		t.row("error", e)
	}
	return t.flush()
}
