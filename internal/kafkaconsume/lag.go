package kafkaconsume

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// reportLag measures, every LagInterval, how far this member's committed
// offsets are behind the ends of the partitions it owns. It asks the brokers
// (not the fetch position) so the figure stays true while fetching is paused.
func (c *Consumer) reportLag(ctx context.Context) {
	adm := kadm.NewClient(c.cl)
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lags, err := adm.Lag(ctx, c.cfg.Group)
		if err == nil {
			err = lags.Error()
		}
		if err != nil {
			if ctx.Err() == nil {
				c.log.Debug("measuring consumer lag failed", "err", err)
			}
			continue
		}
		member, _ := c.cl.GroupMetadata()
		c.m.lag.Reset()
		for _, l := range lags[c.cfg.Group].Lag.Sorted() {
			if l.Member != nil && l.Member.MemberID == member && l.Err == nil {
				c.m.lag.WithLabelValues(l.Topic, strconv.Itoa(int(l.Partition))).Set(float64(l.Lag))
			}
		}
	}
}
