package app

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/internal/volume"
	"github.com/hindsight-dev/hindsight/services/topology/volumefeed"
)

// VolumeFlags are the volume watch's settings: the detector's, and the
// consumer group reading every dataset's topic.
type VolumeFlags struct {
	Detector    volume.Config
	Group       string
	TopicsRegex string
}

// Bind registers the --volume-* flags with the defaults internal/volume owns.
func (f *VolumeFlags) Bind(fs *flag.FlagSet) {
	def := volume.DefaultConfig()
	fs.DurationVar(&f.Detector.Bucket, "volume-bucket", def.Bucket, "length of the volume watch's buckets (at least 1s, dividing a day): an anomaly shows within 1.5 buckets of its first bucket")
	fs.IntVar(&f.Detector.Recent, "volume-recent", def.Recent, "recent buckets in a series' baseline (a longer anomaly becomes the new normal)")
	fs.IntVar(&f.Detector.Days, "volume-days", def.Days, "previous days whose same bucket joins a series' baseline")
	fs.IntVar(&f.Detector.Warmup, "volume-warmup", def.Warmup, "buckets a new series is watched before it is judged")
	fs.Float64Var(&f.Detector.MinExpected, "volume-min-expected", def.MinExpected, "events a bucket a series must expect to be judged for a drop, silence or spike")
	fs.Float64Var(&f.Detector.SpikeFactor, "volume-spike-factor", def.SpikeFactor, "a bucket with more than this times the expected events is a spike")
	fs.IntVar(&f.Detector.MaxSeries, "volume-max-series", def.MaxSeries, "series (datasets, their services and hosts) watched at most; events of further series are counted as unwatched")
	fs.StringVar(&f.Group, "volume-group", volumefeed.Group, "Kafka consumer group of the volume watch; give each topology instance its own (a shared group splits the partitions, and each instance would see part of the rates)")
	fs.StringVar(&f.TopicsRegex, "volume-topics-regex", kafkaconsume.DefaultTopicsRegex, "regular expression of the topics whose events the volume watch counts")
}

func (f VolumeFlags) check() error {
	c := f.Detector
	switch {
	case c.Bucket < time.Second || (24*time.Hour)%c.Bucket != 0:
		return fmt.Errorf("--volume-bucket %v: at least 1s, and a day must be a whole number of buckets (the same bucket of previous days is part of the baseline)", c.Bucket)
	case c.Recent < 1 || c.Days < 1 || c.Warmup < 1 || c.MaxSeries < 1:
		return fmt.Errorf("--volume-recent, --volume-days, --volume-warmup and --volume-max-series must be at least 1")
	case c.MinExpected <= 0 || c.SpikeFactor <= 1:
		return fmt.Errorf("--volume-min-expected must be above 0 and --volume-spike-factor above 1")
	}
	return nil
}

// startVolume builds the detector (its metrics on s's registry), the
// consumer counting every dataset's events into it and the job judging its
// buckets. A new group starts at the end of the topics, as the graph's: the
// baseline is learned from then on.
func startVolume(s *server.Server, f VolumeFlags, d Deps, log *slog.Logger) (*volume.Detector, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	det, err := volume.New(f.Detector, s.Registry)
	if err != nil {
		return nil, err
	}
	sink, err := volumefeed.NewSink(det, log, s.Registry)
	if err != nil {
		return nil, err
	}
	cfg := kafkaconsume.Config{Brokers: d.Brokers, Group: f.Group, TopicsRegex: f.TopicsRegex,
		ClientOpts: append([]kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd())}, d.ClientOpts...)}
	cons, err := kafkaconsume.New(cfg, sink, "volume", log, s.Registry)
	if err != nil {
		return nil, err
	}
	s.Go(cons.Run)
	s.Go(volumefeed.Judge(det, log))
	return det, nil
}
