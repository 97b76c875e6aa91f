// Package archive is the layout of Hindsight's log archive in object storage,
// shared by the archiver that writes it and the replay service that reads it.
//
// Events are stored as gzip-compressed NDJSON (one ECS JSON document per
// line), one object per archiver flush of one Kafka partition, foldered by the
// events' date in UTC:
//
//	<dataset>/YYYY/MM/DD/<topic>-<partition>-<firstOffset>-<lastOffset>.ndjson.gz
//	<dataset>/YYYY/MM/DD/<topic>-<partition>-<firstOffset>-<lastOffset>.manifest.json
//
// Names derive from Kafka offsets, so archiving the same records again writes
// the same names instead of adding duplicates. Every data object has its own
// small manifest next to it (event count, time range, sizes); a day's manifest
// is the listing of its folder. Archiver instances therefore never contend for
// a shared manifest file, and an object becomes visible to readers only once
// its manifest exists, after the data object was fully written.
//
// Top-level names starting with "_" are the archive's own bookkeeping
// (the flush journal), never datasets.
package archive

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	dataSuffix     = ".ndjson.gz"
	manifestSuffix = ".manifest.json"
	journalPrefix  = "_journal/"
	day            = 24 * time.Hour
)

// Key names one data object.
type Key struct {
	Dataset string `json:"dataset"`
	// Day is midnight UTC of the date of every event in the object.
	Day       time.Time `json:"day"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	// FirstOffset and LastOffset are the Kafka offsets of the object's first
	// and last record (records of other days may lie in between).
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
}

// Path is the object's name in the bucket.
func (k Key) Path() string {
	return fmt.Sprintf("%s%s-%d-%d-%d%s", DayPrefix(k.Dataset, k.Day), k.Topic, k.Partition, k.FirstOffset, k.LastOffset, dataSuffix)
}

// ManifestPath is the name of the object's manifest.
func (k Key) ManifestPath() string {
	return strings.TrimSuffix(k.Path(), dataSuffix) + manifestSuffix
}

// DayPrefix is the folder (with its trailing slash) of a dataset's day; the
// time is truncated to its date in UTC.
func DayPrefix(dataset string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s/%04d/%02d/%02d/", Folder(dataset), t.Year(), t.Month(), t.Day())
}

// Folder is the top-level folder of a dataset. Dataset names are used as they
// are when they are safe path segments ([A-Za-z0-9._-], starting with a letter
// or digit); any other byte becomes "_" and a name not starting with a letter
// or digit gets an "x" in front, so no dataset escapes its folder or collides
// with the archive's own "_" names. An empty name is "unknown".
func Folder(dataset string) string {
	if dataset == "" {
		return "unknown"
	}
	b := []byte(dataset)
	for i, c := range b {
		if !safe(c) {
			b[i] = '_'
		}
	}
	if !alnum(b[0]) {
		return "x" + string(b)
	}
	return string(b)
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func safe(c byte) bool { return alnum(c) || c == '.' || c == '_' || c == '-' }

// ParseKey reads a data object's name back into its key.
func ParseKey(path string) (Key, error) {
	bad := func(why string) (Key, error) { return Key{}, fmt.Errorf("archive object name %q: %s", path, why) }
	parts := strings.Split(path, "/")
	if len(parts) != 5 || !strings.HasSuffix(parts[4], dataSuffix) {
		return bad("not <dataset>/YYYY/MM/DD/<topic>-<partition>-<first>-<last>" + dataSuffix)
	}
	d, err := time.Parse("2006/01/02", strings.Join(parts[1:4], "/"))
	if err != nil {
		return bad("bad date folder")
	}
	// Topics may contain '-': the three numbers are taken from the right.
	name := strings.TrimSuffix(parts[4], dataSuffix)
	var nums [3]int64
	for i := 2; i >= 0; i-- {
		j := strings.LastIndexByte(name, '-')
		if j < 0 {
			return bad("missing partition or offsets")
		}
		if nums[i], err = strconv.ParseInt(name[j+1:], 10, 64); err != nil || nums[i] < 0 {
			return bad("bad partition or offset")
		}
		name = name[:j]
	}
	if name == "" || nums[0] > 1<<31-1 || nums[1] > nums[2] {
		return bad("bad topic, partition or offset range")
	}
	k := Key{Dataset: parts[0], Day: d, Topic: name, Partition: int32(nums[0]), FirstOffset: nums[1], LastOffset: nums[2]}
	if k.Path() != path {
		return bad("not in canonical form")
	}
	return k, nil
}

// Midnight is the start of t's date in UTC.
func Midnight(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func journalDir(topic string, partition int32) string {
	return fmt.Sprintf("%s%s/%d/", journalPrefix, topic, partition)
}

// The journal names sort by offset: zero-padded, unlike object names.
func journalPath(topic string, partition int32, first, last int64) string {
	return fmt.Sprintf("%s%020d-%020d.json", journalDir(topic, partition), first, last)
}
