package kafkaconsume

import (
	"flag"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTopicsRegex matches the router's default topics, logs.<dataset>.
const DefaultTopicsRegex = `^logs\..+`

// Flags choose what a consuming service consumes. The brokers are not among
// them: they are where the service runs (flags of its binary, or the
// all-in-one's embedded buffer), not what it does.
type Flags struct {
	Group       string
	TopicsRegex string
}

// Bind registers --group and --topics-regex on fs.
func (f *Flags) Bind(fs *flag.FlagSet, group string) {
	fs.StringVar(&f.Group, "group", group, "Kafka consumer group; instances sharing it split the partitions")
	fs.StringVar(&f.TopicsRegex, "topics-regex", DefaultTopicsRegex, "regular expression of the topics to consume")
}

// Config is the consumer configuration of the flags against brokers.
func (f Flags) Config(brokers []string, opts ...kgo.Opt) Config {
	return Config{Brokers: brokers, Group: f.Group, TopicsRegex: f.TopicsRegex, ClientOpts: opts}
}
