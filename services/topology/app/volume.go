package app

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/internal/volume"
	"github.com/hindsight-dev/hindsight/services/topology/volumefeed"
)

// VolumeFlags are the volume watch's settings: the detector's, and what its
// feed reads of every dataset's topic.
type VolumeFlags struct {
	Detector    volume.Config
	History     time.Duration
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
	fs.DurationVar(&f.History, "volume-history", time.Duration(def.Recent)*def.Bucket, "how far back the volume watch reads the topics again when it starts, to rebuild its recent baseline (it judges once it has read them; 0: from the end, learning for --volume-warmup buckets); at most --volume-days days and --volume-recent buckets")
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
	case f.History < 0 || f.History > time.Duration(c.Days)*24*time.Hour+time.Duration(c.Recent)*c.Bucket:
		return fmt.Errorf("--volume-history %v: between 0 and --volume-days days plus --volume-recent buckets (older events reach no baseline)", f.History)
	}
	return nil
}

// startVolume builds the detector (its metrics on s's registry), the feed
// counting every dataset's events into it and the job judging its buckets
// once the feed has read its history again. The feed reads every partition
// without a consumer group (see package volumefeed): several topology
// instances each watch the whole rates.
func startVolume(s *server.Server, f VolumeFlags, d Deps, log *slog.Logger) (*volume.Detector, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	det, err := volume.New(f.Detector, s.Registry)
	if err != nil {
		return nil, err
	}
	feed, err := volumefeed.New(volumefeed.Config{Brokers: d.Brokers, TopicsRegex: f.TopicsRegex, History: f.History, ClientOpts: d.ClientOpts},
		det, log, s.Registry)
	if err != nil {
		return nil, err
	}
	s.Go(feed.Run)
	s.Go(volumefeed.Judge(det, feed.Ready(), log))
	return det, nil
}
