package kafkaconsume

import (
	"flag"
	"strings"
)

// DefaultTopicsRegex matches the router's default topics, logs.<dataset>.
const DefaultTopicsRegex = `^logs\..+`

// Flags are the Kafka settings of a consuming service's command line.
type Flags struct {
	Brokers     string
	Group       string
	TopicsRegex string
}

// Bind registers --kafka-brokers, --group and --topics-regex on fs.
func (f *Flags) Bind(fs *flag.FlagSet, group string) {
	fs.StringVar(&f.Brokers, "kafka-brokers", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&f.Group, "group", group, "Kafka consumer group; instances sharing it split the partitions")
	fs.StringVar(&f.TopicsRegex, "topics-regex", DefaultTopicsRegex, "regular expression of the topics to consume")
}

// Config is the consumer configuration the flags describe.
func (f *Flags) Config() Config {
	var brokers []string
	for _, b := range strings.Split(f.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return Config{Brokers: brokers, Group: f.Group, TopicsRegex: f.TopicsRegex}
}
