package api

import (
	"context"
	"encoding/base64"
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
)

// Search searches a replay, or the live indices when req.replay is empty.
// The range defaults to the replay's (live: the last 24 hours); page tokens
// are opaque offsets.
func (s *Service) Search(ctx context.Context, req *replayv1.SearchRequest) (*replayv1.SearchResponse, error) {
	began := time.Now()
	var v badrequest.Violations
	q, err := query.Parse(req.GetQuery())
	if err != nil {
		v.Add("query", "%v", err)
	}
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
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		v.Add("page_size", "must be at least 0")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	if offset+size > maxWindow {
		v.Add("page_token", "pages go %d events deep at most: narrow the query or the range", maxWindow)
	}
	if req.GetHistogramInterval().AsDuration() < 0 {
		v.Add("histogram_interval", "must not be negative")
	}

	var ix index.Index
	var from, to time.Time
	kind := "live"
	if name := req.GetReplay(); name != "" {
		kind = "replay"
		r, err := s.store.get(ctx, name)
		if err != nil {
			return nil, err
		}
		if ix, _, err = s.index(ctx, r); err != nil {
			return nil, err
		}
		from, to = r.GetFrom().AsTime(), r.GetTo().AsTime()
	} else {
		if s.cfg.Live == nil {
			return nil, status.Error(codes.FailedPrecondition, "live search needs OpenSearch (--opensearch-url); search a replay instead")
		}
		ix = s.cfg.Live
		to = s.cfg.Now()
		from = to.Add(-liveDefaultRange)
	}
	if req.GetFrom() != nil {
		from = req.GetFrom().AsTime()
	}
	if req.GetTo() != nil {
		to = req.GetTo().AsTime()
	}
	if !from.Before(to) {
		v.Add("to", "must be after from")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	buckets := index.Buckets(from, to, req.GetHistogramInterval().AsDuration(), histogramBuckets, maxBuckets)
	res, err := ix.Search(ctx, index.Request{
		Query:    q,
		From:     from,
		To:       to,
		Datasets: req.GetDatasets(),
		Offset:   offset,
		Size:     size,
		Oldest:   req.GetSort() == replayv1.SearchRequest_SORT_OLDEST_FIRST,
		Buckets:  buckets,
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "search: %v", err)
	}
	resp := &replayv1.SearchResponse{Total: res.Total}
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
	took := time.Since(began)
	resp.Took = durationpb.New(took)
	s.metrics.searches.WithLabelValues(kind).Observe(took.Seconds())
	return resp, nil
}
