package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	"github.com/hindsight-dev/hindsight/internal/event"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

const (
	defaultPageSize = 50
	maxPageSize     = 500
	// maxWindow is how deep pages go (OpenSearch's default result window).
	maxWindow = 10000
	// histogramBuckets is about how many bars a histogram has by default.
	histogramBuckets = 60
	maxBuckets       = 500
	// liveDefaultRange is a live search's range when it names none.
	liveDefaultRange = 24 * time.Hour
	// maxStatFields bounds the fields field_stats reports, statTop the
	// values of each.
	maxStatFields = 50
	statTop       = 5
	// statSample: past this many matches the field stats are counted over
	// a sample of about as many, spread over the range (an exact count of
	// every field's values over millions of events takes seconds).
	statSample = 100000
	// maxFollow bounds a follow value (an id, not a document).
	maxFollow = 1024
)

// DefaultCorrelationFields are the fields that carry one request's id in
// common log formats: OpenTelemetry/ECS trace ids, ECS http.request.id, and
// the request_id of application and access logs.
var DefaultCorrelationFields = []string{"trace.id", "http.request.id", "request_id", "transaction.id"}

// scope is what a search or an export reads: an index, a query, a range.
type scope struct {
	ix       index.Index
	kind     string // live or replay
	q        query.Node
	from, to time.Time
	datasets []string
	oldest   bool
}

// scope validates the parts of req every search-side RPC shares; their
// violations name fields under prefix ("" or "search.").
func (s *Service) scope(ctx context.Context, req *replayv1.SearchRequest, prefix string, v *badrequest.Violations) (*scope, error) {
	q, err := query.Parse(req.GetQuery())
	if err != nil {
		v.Add(prefix+"query", "%v", err)
	}
	if f := req.GetFollow(); f != "" {
		if len(f) > maxFollow {
			v.Add(prefix+"follow", "is %d bytes, at most %d allowed", len(f), maxFollow)
		} else {
			q = s.follow(q, f)
		}
	}
	sc := &scope{q: q, kind: "live", datasets: req.GetDatasets(), oldest: req.GetSort() == replayv1.SearchRequest_SORT_OLDEST_FIRST}
	if name := req.GetReplay(); name != "" {
		sc.kind = "replay"
		r, err := s.store.get(ctx, name)
		if err != nil {
			return nil, err
		}
		if sc.ix, _, err = s.index(ctx, r); err != nil {
			return nil, err
		}
		sc.from, sc.to = r.GetFrom().AsTime(), r.GetTo().AsTime()
	} else {
		if s.cfg.Live == nil {
			return nil, status.Error(codes.FailedPrecondition, "live search needs OpenSearch (--opensearch-url); search a replay instead")
		}
		sc.ix = s.cfg.Live
		sc.to = s.cfg.Now()
		sc.from = sc.to.Add(-liveDefaultRange)
	}
	if req.GetFrom() != nil {
		sc.from = req.GetFrom().AsTime()
	}
	if req.GetTo() != nil {
		sc.to = req.GetTo().AsTime()
	}
	if !sc.from.Before(sc.to) {
		v.Add(prefix+"to", "must be after from")
	}
	return sc, nil
}

// follow narrows q to the events holding id in any correlation field.
func (s *Service) follow(q query.Node, id string) query.Node {
	var any query.Or
	for _, f := range s.cfg.CorrelationFields {
		any.Nodes = append(any.Nodes, query.Match{Field: f, Value: id, Phrase: true})
	}
	if q == nil {
		return any
	}
	return query.And{Nodes: []query.Node{q, any}}
}

func (sc *scope) request() index.Request {
	return index.Request{Query: sc.q, From: sc.from, To: sc.to, Datasets: sc.datasets, Oldest: sc.oldest}
}

// Search searches a replay, or the live indices when req.replay is empty.
// The range defaults to the replay's (live: the last 24 hours); page tokens
// are opaque offsets.
func (s *Service) Search(ctx context.Context, req *replayv1.SearchRequest) (*replayv1.SearchResponse, error) {
	began := time.Now()
	var v badrequest.Violations
	offset := 0
	if t := req.GetPageToken(); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err == nil {
			offset, err = strconv.Atoi(string(b))
		}
		if err != nil || offset < 0 {
			v.Add("page_token", "not a token this service returned")
		}
	}
	size := min(count(&v, "page_size", req.GetPageSize(), defaultPageSize), maxPageSize)
	if offset+size > maxWindow {
		v.Add("page_token", "pages go %d events deep at most: narrow the query or the range", maxWindow)
	}
	if req.GetHistogramInterval().AsDuration() < 0 {
		v.Add("histogram_interval", "must not be negative")
	}
	sc, err := s.scope(ctx, req, "", &v)
	if err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	buckets := index.Buckets(sc.from, sc.to, req.GetHistogramInterval().AsDuration(), histogramBuckets, maxBuckets)
	ir := sc.request()
	ir.Offset, ir.Size, ir.Buckets = offset, size, buckets
	res, err := sc.ix.Search(ctx, ir)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "search: %v", err)
	}
	resp := &replayv1.SearchResponse{Total: res.Total, CorrelationFields: s.cfg.CorrelationFields}
	for _, h := range res.Hits {
		e, err := event.Unmarshal(h)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "search: a hit is not an event: %v", err)
		}
		resp.Events = append(resp.Events, e)
	}
	for i, b := range buckets {
		resp.Histogram = append(resp.Histogram, &replayv1.HistogramBucket{Start: timestamppb.New(b), Count: res.Counts[i]})
	}
	if next := offset + len(res.Hits); int64(next) < res.Total && next+size <= maxWindow && len(res.Hits) > 0 {
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(next)))
	}
	if req.GetFieldStats() && len(res.Hits) > 0 {
		if resp.Fields, resp.FieldStatsSample, err = s.fieldStats(ctx, sc, res.Hits); err != nil {
			return nil, err
		}
	}
	took := time.Since(began)
	resp.Took = durationpb.New(took)
	s.metrics.searches.WithLabelValues(sc.kind).Observe(took.Seconds())
	return resp, nil
}

// fieldStats asks the index for the top values, among all of the search's
// events (or a sample of them: its size is returned), of the exact fields
// the page's hits hold.
func (s *Service) fieldStats(ctx context.Context, sc *scope, hits [][]byte) ([]*replayv1.FieldStats, int64, error) {
	names := exactFields(hits, maxStatFields)
	if len(names) == 0 {
		return nil, 0, nil
	}
	ir := sc.request()
	ir.Top, ir.TopSize, ir.TopSample = names, statTop, statSample
	res, err := sc.ix.Search(ctx, ir)
	if err != nil {
		return nil, 0, status.Errorf(codes.Unavailable, "search: field stats: %v", err)
	}
	out := make([]*replayv1.FieldStats, 0, len(names))
	for _, n := range names {
		fs := &replayv1.FieldStats{Name: n}
		for _, vc := range res.Top[n] {
			fs.Top = append(fs.Top, &replayv1.ValueCount{Value: vc.Value, Count: vc.Count})
		}
		out = append(out, fs)
	}
	return out, res.TopSample, nil
}

// exactFields lists, by name, the dotted names of the exact (string or
// boolean) fields of the documents, at most limit of them, the most common
// first when there are more.
func exactFields(docs [][]byte, limit int) []string {
	seen := map[string]int{}
	for _, d := range docs {
		var m map[string]any
		if json.Unmarshal(d, &m) != nil {
			continue
		}
		exactNames(seen, "", m)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if seen[names[i]] != seen[names[j]] {
			return seen[names[i]] > seen[names[j]]
		}
		return names[i] < names[j]
	})
	names = names[:min(len(names), limit)]
	sort.Strings(names)
	return names
}

func exactNames(seen map[string]int, prefix string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if prefix != "" {
				k = prefix + "." + k
			}
			exactNames(seen, k, c)
		}
	case []any:
		for _, c := range v {
			exactNames(seen, prefix, c)
		}
	case string, bool:
		if !query.IsText(prefix) && !query.IsDate(prefix) && prefix != "event.id" {
			seen[prefix]++
		}
	}
}
