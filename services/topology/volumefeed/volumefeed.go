// Package volumefeed feeds the volume watch (internal/volume) from the
// router's topics: every record's dataset, service.name, host.name and event
// time is counted as it arrives, and a job judges the buckets as they close,
// logging each anomaly that begins.
package volumefeed

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	ecs "github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/volume"
)

// Group is the default consumer group: apart from the access-log consumer's,
// since the volume watch reads every dataset's topic.
const Group = "hindsight-volume"

// NewSink counts every record's event in d (a kafkaconsume.Feed: the counts
// are in memory, a record is done once counted). Records that are no ECS
// document are counted on hindsight_volume_undecodable_records_total,
// registered on reg (nil: none).
func NewSink(d *volume.Detector, log *slog.Logger, reg prometheus.Registerer) (*kafkaconsume.Feed, error) {
	bad := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hindsight_volume_undecodable_records_total",
		Help: "Consumed records that are no ECS event document, not counted by the volume watch.",
	})
	if reg != nil {
		if err := reg.Register(bad); err != nil {
			return nil, err
		}
	}
	return kafkaconsume.NewFeed(func(r *kgo.Record) {
		e, err := ecs.Unmarshal(r.Value)
		if err != nil || e.GetDataset() == "" {
			bad.Inc()
			log.Debug("volume: record not decodable", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			return
		}
		d.Observe(e.GetDataset(), e.GetService(), e.GetSource().GetHost(), e.GetTimestamp().AsTime(), 1)
	}), nil
}

// Judge ticks d every tenth of a bucket (at least every second) until ctx
// ends, so a bucket is judged within a tenth of a bucket of becoming due,
// and logs the anomalies that begin.
func Judge(d *volume.Detector, log *slog.Logger) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(min(d.Bucket()/10, time.Second))
		defer t.Stop()
		for {
			for _, a := range d.Tick(time.Now()) {
				log.Warn("volume anomaly", "kind", a.Kind, "dataset", a.Dataset, "service", a.Service, "host", a.Host,
					"bucket", a.Bucket, "count", a.Count, "expected", a.Expected)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}
