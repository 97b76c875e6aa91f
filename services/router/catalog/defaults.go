package catalog

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// TopicPrefix starts the default topic name of a dataset: "logs.<dataset>".
const TopicPrefix = "logs."

// Defaults are the topic settings a dataset gets, when it is created, for
// those it leaves at zero. They are written into the stored dataset, so every
// router sees the same settings whatever its own defaults are.
type Defaults struct {
	Topic *routingv1.TopicSettings
}

// BuiltinDefaults keep a week of each dataset, zstd-compressed, with the
// broker's partition count and replication factor. A retention is always
// set: the seed system's disks filled up because none was.
func BuiltinDefaults() Defaults {
	return Defaults{Topic: &routingv1.TopicSettings{
		Retention:   durationpb.New(7 * 24 * time.Hour),
		Compression: "zstd",
	}}
}

// apply fills d's zero topic settings from the defaults.
func (df Defaults) apply(d *routingv1.Dataset) {
	if d.Topic == nil {
		d.Topic = &routingv1.TopicSettings{}
	}
	t, def := d.Topic, df.Topic
	if t.Topic == "" {
		t.Topic = TopicPrefix + d.GetName()
	}
	if t.Partitions == 0 {
		t.Partitions = def.GetPartitions()
	}
	if t.ReplicationFactor == 0 {
		t.ReplicationFactor = def.GetReplicationFactor()
	}
	if t.Retention == nil && def.GetRetention() != nil {
		t.Retention = proto.Clone(def.GetRetention()).(*durationpb.Duration)
	}
	if t.RetentionBytes == 0 {
		t.RetentionBytes = def.GetRetentionBytes()
	}
	if t.Compression == "" {
		t.Compression = def.GetCompression()
	}
}
