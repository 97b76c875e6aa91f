// Package api is the TopologyService: it takes flows from agents (and
// anything else speaking ReportFlows) into the aggregator, and serves the live
// graph as protos, as Vizceral JSON and as a stream.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/volume"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
	"github.com/hindsight-dev/hindsight/services/topology/vizceral"
)

// Options configure a Service.
type Options struct {
	Aggregator *graph.Aggregator
	Vizceral   vizceral.Options
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// Volume is the volume watch ListVolume lists (nil: Unavailable).
	Volume *volume.Detector
}

// Service implements topologyv1.TopologyServiceServer.
type Service struct {
	topologyv1.UnimplementedTopologyServiceServer
	agg *graph.Aggregator
	viz vizceral.Options
	log *slog.Logger
	m   *metrics
	// volume serves ListVolume (see volume.go).
	volume *volume.Detector
}

// New builds the service and registers its metrics.
func New(opt Options) (*Service, error) {
	if opt.Aggregator == nil {
		return nil, errors.New("topology service: no aggregator")
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	m, err := newMetrics(opt.Registerer, opt.Aggregator)
	if err != nil {
		return nil, err
	}
	return &Service{agg: opt.Aggregator, viz: opt.Vizceral, log: opt.Log, m: m, volume: opt.Volume}, nil
}

// ReportFlows adds every message's flows. A message with an invalid flow is
// rejected whole and ends the stream with InvalidArgument naming the field;
// the messages before it stay counted.
func (s *Service) ReportFlows(stream topologyv1.TopologyService_ReportFlowsServer) error {
	var accepted int64
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&topologyv1.ReportFlowsResponse{Accepted: accepted})
		}
		if err != nil {
			return err
		}
		if err := validateFlows(req); err != nil {
			s.m.flows.WithLabelValues(outcomeInvalid).Add(float64(len(req.GetFlows())))
			s.log.Debug("flows rejected", "err", err)
			return err
		}
		for _, f := range req.GetFlows() {
			if s.add(f) {
				accepted++
			}
		}
	}
}

// Report adds one flow from inside the process (the access-log consumer)
// exactly as if it came over ReportFlows: the same validation, aggregator and
// metrics. It returns the InvalidArgument error of an invalid flow, and
// whether the aggregator accepted it.
func (s *Service) Report(f *topologyv1.Flow) (bool, error) {
	if err := validateFlows(&topologyv1.ReportFlowsRequest{Flows: []*topologyv1.Flow{f}}); err != nil {
		s.m.flows.WithLabelValues(outcomeInvalid).Inc()
		return false, err
	}
	return s.add(f), nil
}

// add feeds a valid flow to the aggregator and counts it.
func (s *Service) add(f *topologyv1.Flow) bool {
	o := s.agg.Add(f)
	s.m.flows.WithLabelValues(outcomeLabel[o]).Inc()
	if o != graph.Accepted {
		return false
	}
	n := f.GetCount()
	if n == 0 {
		n = 1
	}
	s.m.requests.WithLabelValues(f.GetProtocol().String(), f.GetOrigin().String()).Add(float64(n))
	return true
}

// GetGraph returns the graph over the requested window.
func (s *Service) GetGraph(_ context.Context, req *topologyv1.GetGraphRequest) (*topologyv1.Graph, error) {
	var v violations
	w := window(&v, "window", req.GetWindow(), s.agg.MaxWindow())
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.agg.Graph(w), nil
}

// GetVizceral returns the graph in Vizceral's format.
func (s *Service) GetVizceral(ctx context.Context, req *topologyv1.GetGraphRequest) (*topologyv1.VizceralNode, error) {
	g, err := s.GetGraph(ctx, req)
	if err != nil {
		return nil, err
	}
	return vizceral.FromGraph(g, s.viz), nil
}

// WatchGraph sends the graph at once, then every interval until the client
// goes away.
func (s *Service) WatchGraph(req *topologyv1.WatchGraphRequest, stream topologyv1.TopologyService_WatchGraphServer) error {
	var v violations
	w := window(&v, "window", req.GetWindow(), s.agg.MaxWindow())
	every := interval(&v, "interval", req.GetInterval())
	if err := v.Err(); err != nil {
		return err
	}
	s.m.watchers.Inc()
	defer s.m.watchers.Dec()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := stream.Send(s.agg.Graph(w)); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}
