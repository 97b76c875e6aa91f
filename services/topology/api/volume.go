package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/validate"
	"github.com/hindsight-dev/hindsight/internal/volume"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// DefaultVolumeBuckets is how many buckets a series shows unless asked.
const DefaultVolumeBuckets = 60

var kinds = map[volume.Kind]topologyv1.AnomalyKind{
	volume.Drop:    topologyv1.AnomalyKind_ANOMALY_KIND_DROP,
	volume.Spike:   topologyv1.AnomalyKind_ANOMALY_KIND_SPIKE,
	volume.Silence: topologyv1.AnomalyKind_ANOMALY_KIND_SILENCE,
}

// ListVolume returns the volume watch's series and anomalies; Unavailable
// when the service runs without one (no Kafka to read events from).
func (s *Service) ListVolume(_ context.Context, req *topologyv1.ListVolumeRequest) (*topologyv1.ListVolumeResponse, error) {
	if err := validate.Check(req); err != nil {
		return nil, err
	}
	if s.volume == nil {
		return nil, status.Error(codes.Unavailable, "no volume watch: this topology service reads no event topics (no Kafka brokers)")
	}
	n := int(req.GetBuckets())
	if n == 0 {
		n = DefaultVolumeBuckets
	}
	snap := s.volume.Snapshot(volume.Filter{Dataset: req.GetDataset(), Breakdown: req.GetBreakdown(), Buckets: n})
	resp := &topologyv1.ListVolumeResponse{Bucket: durationpb.New(snap.Bucket)}
	if !snap.Start.IsZero() {
		resp.Start = timestamppb.New(snap.Start)
	}
	for _, ser := range snap.Series {
		out := &topologyv1.VolumeSeries{Dataset: ser.Dataset, Service: ser.Service, Host: ser.Host, Counts: ser.Counts, Expected: ser.Expected}
		for _, a := range ser.Anomalies {
			pa := anomalyProto(a)
			out.Anomalies = append(out.Anomalies, pa)
			if a.End.IsZero() {
				resp.Active = append(resp.Active, pa)
			}
		}
		resp.Series = append(resp.Series, out)
	}
	return resp, nil
}

func anomalyProto(a volume.Anomaly) *topologyv1.VolumeAnomaly {
	out := &topologyv1.VolumeAnomaly{Dataset: a.Dataset, Service: a.Service, Host: a.Host, Kind: kinds[a.Kind],
		Start: timestamppb.New(a.Bucket), Count: a.Count, Expected: a.Expected}
	if !a.End.IsZero() {
		out.End = timestamppb.New(a.End)
	}
	return out
}
