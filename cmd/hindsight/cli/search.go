package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
)

// maxSearchLimit bounds --limit: beyond it, page with a range or use a replay.
const maxSearchLimit = 10000

// serverPageSize is the largest page the replay service returns.
const serverPageSize = 500

func (a *app) searchCommand() *cobra.Command {
	var (
		replay       string
		datasets     []string
		from, to     = timeValue{now: a.now}, timeValue{now: a.now}
		since        time.Duration
		limit        int
		oldest       bool
		follow       bool
		pollInterval time.Duration
		out          format
	)
	c := &cobra.Command{
		Use:   "search [QUERY]",
		Short: "Search live data or a replay: table, JSON or NDJSON, or follow new events",
		Long: `Searches the live index (or a replay with --replay) with the query syntax of the
web page: terms, "phrases", field:value, field:[a TO b], AND/OR/NOT. An empty
query matches everything. Newest first unless --oldest-first.

--follow prints matching events as they arrive (oldest first), until interrupted.`,
		Example: `  hindsight search 'log.level:error AND service.name:api' --since 1h
  hindsight search --replay yesterday 'http.response.status_code:[500 TO 599]' --limit 20
  hindsight search payment -o json | jq .total
  hindsight search -d app --follow -o ndjson`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s: want at most one QUERY (quote it), got %d arguments", c.CommandPath(), len(args))
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			if limit < 1 || limit > maxSearchLimit {
				return usagef("--limit %d: want 1..%d", limit, maxSearchLimit)
			}
			if since > 0 && !from.t.IsZero() {
				return usagef("--since and --from: give one of them")
			}
			if follow && out == formatJSON {
				return usagef("--follow prints events as they come: use -o ndjson or table, not json")
			}
			req := &replayv1.SearchRequest{Replay: replay, Datasets: datasets, PageSize: int32(limit)}
			if len(args) == 1 {
				req.Query = args[0]
			}
			if since > 0 {
				req.From = timestamppb.New(a.now().Add(-since))
			} else if !from.t.IsZero() {
				req.From = timestamppb.New(from.t)
			}
			if !to.t.IsZero() {
				req.To = timestamppb.New(to.t)
			}
			if oldest {
				req.Sort = replayv1.SearchRequest_SORT_OLDEST_FIRST
			}
			rc, err := a.replay()
			if err != nil {
				return err
			}
			if follow {
				return a.follow(c.Context(), rc, req, out, pollInterval)
			}
			resp, err := a.searchUpTo(c.Context(), rc, req, limit)
			if err != nil {
				return err
			}
			switch out {
			case formatJSON:
				return writeJSON(a.out, resp)
			case formatNDJSON:
				return writeNDJSON(a.out, resp.GetEvents())
			}
			t := eventTable(a)
			for _, e := range resp.GetEvents() {
				eventRow(t, e)
			}
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.err, "%d of %d matching events (%s)\n", len(resp.GetEvents()), resp.GetTotal(), short(resp.GetTook().AsDuration()))
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&replay, "replay", "r", "", "search this replay instead of live data")
	f.StringSliceVarP(&datasets, "dataset", "d", nil, "only these datasets (live data)")
	f.Var(&from, "from", "events at or after this time")
	f.Var(&to, "to", "events before this time")
	f.DurationVar(&since, "since", 0, "events of the last DURATION (instead of --from)")
	f.IntVarP(&limit, "limit", "n", 50, fmt.Sprintf("at most this many events (1..%d)", maxSearchLimit))
	f.BoolVar(&oldest, "oldest-first", false, "oldest events first")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new matching events, oldest first, until interrupted")
	f.DurationVar(&pollInterval, "poll-interval", time.Second, "how often --follow asks for new events")
	bindFormat(c, &out)
	_ = c.RegisterFlagCompletionFunc("replay", a.completeReplays)
	_ = c.RegisterFlagCompletionFunc("dataset", a.completeDatasets)
	return c
}

// searchUpTo pages until limit events (the server's pages are smaller).
func (a *app) searchUpTo(ctx context.Context, rc replayv1.ReplayServiceClient, req *replayv1.SearchRequest, limit int) (*replayv1.SearchResponse, error) {
	var all *replayv1.SearchResponse
	for {
		req.PageSize = int32(min(limit-len(all.GetEvents()), serverPageSize))
		cctx, cancel := a.call(ctx)
		resp, err := rc.Search(cctx, req)
		cancel()
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = resp
		} else {
			all.Events = append(all.Events, resp.GetEvents()...)
		}
		req.PageToken = resp.GetNextPageToken()
		if req.PageToken == "" || len(resp.GetEvents()) == 0 || len(all.GetEvents()) >= limit {
			all.NextPageToken = req.PageToken
			return all, nil
		}
	}
}

func eventTable(a *app) *table {
	return newTable(a.out, "TIME", "DATASET", "LEVEL", "SERVICE", "MESSAGE")
}

func eventRow(t *table, e *eventv1.Event) {
	msg := e.GetMessage()
	if r := []rune(msg); len(r) > 200 {
		msg = string(r[:200]) + "…"
	}
	t.row(e.GetTimestamp().AsTime().UTC().Format("2006-01-02T15:04:05.000Z"), e.GetDataset(), e.GetLevel(), e.GetService(), msg)
}

// follow polls for events at or after the newest one seen, oldest first, and
// prints those not printed yet: events sharing the newest timestamp are told
// apart by id, so none is printed twice and none between polls is missed.
// Each poll pages through everything new, so a burst is not cut at --limit.
func (a *app) follow(ctx context.Context, rc replayv1.ReplayServiceClient, req *replayv1.SearchRequest, out format, every time.Duration) error {
	req.Sort = replayv1.SearchRequest_SORT_OLDEST_FIRST
	if req.From == nil {
		req.From = timestamppb.New(a.now())
	}
	seen := map[string]bool{} // ids printed whose timestamp is req.From
	header := out != formatNDJSON
	tick := time.NewTicker(max(every, 100*time.Millisecond))
	defer tick.Stop()
	for {
		newest, atNewest := req.From.AsTime(), map[string]bool{}
		req.PageToken = ""
		for {
			cctx, cancel := a.call(ctx)
			resp, err := rc.Search(cctx, req)
			cancel()
			if ctx.Err() != nil {
				return nil // interrupted: the normal end of a tail
			}
			if err != nil {
				return err
			}
			var fresh []*eventv1.Event
			for _, e := range resp.GetEvents() {
				if seen[e.GetId()] {
					continue
				}
				switch t := e.GetTimestamp().AsTime(); {
				case t.After(newest):
					newest, atNewest = t, map[string]bool{e.GetId(): true}
				case t.Equal(newest):
					atNewest[e.GetId()] = true
				}
				fresh = append(fresh, e)
			}
			if err := a.printFollowed(fresh, out, &header); err != nil {
				return err
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		if newest.After(req.From.AsTime()) {
			req.From, seen = timestamppb.New(newest), atNewest
		} else {
			for id := range atNewest {
				seen[id] = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (a *app) printFollowed(es []*eventv1.Event, out format, header *bool) error {
	if out == formatNDJSON {
		return writeNDJSON(a.out, es)
	}
	if len(es) == 0 {
		return nil
	}
	// One aligned block per poll; the header only above the first.
	t := &table{tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)}
	if *header {
		t.row("TIME", "DATASET", "LEVEL", "SERVICE", "MESSAGE")
		*header = false
	}
	for _, e := range es {
		eventRow(t, e)
	}
	return t.flush()
}
