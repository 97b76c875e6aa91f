package catalog

import (
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	"github.com/hindsight-dev/hindsight/internal/parse"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Limits on what datasets and routes may hold.
const (
	maxNameLen        = 100 // "logs.<dataset>" stays well under Kafka's 249
	maxTopicLen       = 249
	maxDescriptionLen = 1024
	maxPartitions     = 10000
	maxReplication    = 32767
	maxConditions     = 32
	maxFieldLen       = 256
)

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	topicRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

const nameRule = "must be lower case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100 characters"

var compressions = map[string]bool{"": true, "zstd": true, "lz4": true, "snappy": true, "gzip": true, "producer": true, "uncompressed": true}

// ValidName reports whether s can name a dataset or a route.
func ValidName(s string) bool { return len(s) <= maxNameLen && nameRE.MatchString(s) }

// checkName reports a dataset or route name that is missing or malformed.
func checkName(v *badrequest.Violations, field, s string) {
	switch {
	case s == "":
		v.Add(field, "required; %s", nameRule)
	case !ValidName(s):
		v.Add(field, "%s; got %q", nameRule, clip(s))
	}
}

func checkTopic(v *badrequest.Violations, field, s string, required bool) {
	switch {
	case s == "":
		if required {
			v.Add(field, "required: a Kafka topic name")
		}
	case len(s) > maxTopicLen || !topicRE.MatchString(s) || s == "." || s == "..":
		v.Add(field, "must be a Kafka topic name: 1-249 letters, digits, '.', '_' and '-'; got %q", clip(s))
	}
}

// validateDataset checks a dataset as it will be stored (defaults applied);
// fields are named from prefix ("dataset").
func validateDataset(d *routingv1.Dataset, prefix string) error {
	var v badrequest.Violations
	checkName(&v, prefix+".name", d.GetName())
	if len(d.GetDescription()) > maxDescriptionLen {
		v.Add(prefix+".description", "at most %d bytes", maxDescriptionLen)
	}
	if _, err := parse.New(d.GetParser()); err != nil {
		var ce *parse.ConfigError
		if errors.As(err, &ce) {
			v.Add(prefix+".parser."+ce.Field, "%v", ce.Err)
		} else {
			v.Add(prefix+".parser", "%v", err)
		}
	}
	t := d.GetTopic()
	// A topic derived from a bad name is bad for the same reason: say it once.
	if ValidName(d.GetName()) || t.GetTopic() != TopicPrefix+d.GetName() {
		checkTopic(&v, prefix+".topic.topic", t.GetTopic(), true)
	}
	if p := t.GetPartitions(); p < 0 || p > maxPartitions {
		v.Add(prefix+".topic.partitions", "must be 0 (broker default) to %d; got %d", maxPartitions, p)
	}
	if r := t.GetReplicationFactor(); r < 0 || r > maxReplication {
		v.Add(prefix+".topic.replication_factor", "must be 0 (broker default) to %d; got %d", maxReplication, r)
	}
	if r := t.GetRetention(); r != nil {
		if err := r.CheckValid(); err != nil || r.AsDuration() < 0 {
			v.Add(prefix+".topic.retention", "must be a duration of 0 (broker default) or more")
		} else if r.AsDuration() > 0 && r.AsDuration() < time.Millisecond {
			v.Add(prefix+".topic.retention", "must be at least 1ms (Kafka counts milliseconds)")
		}
	}
	if b := t.GetRetentionBytes(); b < 0 {
		v.Add(prefix+".topic.retention_bytes", "must be 0 (broker default) or more; got %d", b)
	}
	if c := t.GetCompression(); !compressions[c] {
		v.Add(prefix+".topic.compression", "must be zstd, lz4, snappy, gzip, producer or uncompressed; got %q", clip(c))
	}
	return v.Err()
}

// validateRoute checks a route; whether its dataset exists is the store's
// business (it checks in the same transaction that writes the route).
func validateRoute(r *routingv1.Route, prefix string) error {
	var v badrequest.Violations
	checkName(&v, prefix+".name", r.GetName())
	checkName(&v, prefix+".dataset", r.GetDataset())
	checkTopic(&v, prefix+".topic", r.GetTopic(), true)
	if len(r.GetConditions()) > maxConditions {
		v.Add(prefix+".conditions", "at most %d", maxConditions)
	}
	for i, c := range r.GetConditions() {
		field := prefix + ".conditions[" + strconv.Itoa(i) + "]"
		if c.GetField() == "" || len(c.GetField()) > maxFieldLen {
			v.Add(field+".field", "required: an event field such as log.level, at most %d bytes", maxFieldLen)
		}
		switch c.GetOp() {
		case routingv1.Condition_OP_EQUALS, routingv1.Condition_OP_NOT_EQUALS, routingv1.Condition_OP_EXISTS:
		case routingv1.Condition_OP_MATCHES:
			if _, err := regexp.Compile(c.GetValue()); err != nil {
				v.Add(field+".value", "not a Go regexp: %v", err)
			}
		default:
			v.Add(field+".op", "must be OP_EQUALS, OP_NOT_EQUALS, OP_EXISTS or OP_MATCHES")
		}
	}
	return v.Err()
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
