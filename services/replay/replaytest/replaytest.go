// Package replaytest writes the test data of the replay service's unit, e2e
// and benchmark suites: days of events in Hindsight's archive layout (with
// internal/archive's writer, as the archiver writes them), and legacy trees
// of raw .gz files, and says which events each holds.
package replaytest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/klauspost/compress/gzip"
	// Archives are written to directories.
	_ "gocloud.dev/blob/fileblob"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/event"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
)

// Day1 is the first day the suites archive.
var Day1 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// Event is one written event, as a test expects to find it.
type Event struct {
	ID, Dataset, Level, Service string
	Time                        time.Time
}

// WriteArchive writes days of events from the day of first into the archive
// in dir: per dataset and day, two partitions of two objects of perObject
// events each, spread evenly from midnight to the last nanosecond of the day
// (so every midnight has events on both sides). Levels cycle info, error,
// info, warn and services api, web.
func WriteArchive(dir string, first time.Time, days int, datasets []string, perObject int) ([]Event, error) {
	ctx := context.Background()
	st, err := archive.Open(ctx, "file://"+dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var all []Event
	for _, ds := range datasets {
		offset := map[int32]int64{}
		for d := 0; d < days; d++ {
			day := archive.Midnight(first).AddDate(0, 0, d)
			perDay := 4 * perObject
			// Evenly from midnight to (almost) the last nanosecond; the step,
			// not the product, so that large days do not overflow.
			step := (24*time.Hour - 1) / time.Duration(max(1, perDay-1))
			n := 0
			for part := int32(0); part < 2; part++ {
				for obj := 0; obj < 2; obj++ {
					docs := make([]archive.Doc, 0, perObject)
					firstOffset := offset[part]
					for i := 0; i < perObject; i++ {
						ts := day.Add(time.Duration(n) * step)
						n++
						e := &eventv1.Event{
							Timestamp: timestamppb.New(ts),
							Dataset:   ds,
							Message:   fmt.Sprintf("GET /item/%d HTTP/1.1 200 served by %s in %d ms", n, []string{"api", "web"}[n%2], n%250),
							Level:     []string{"info", "error", "info", "warn"}[n%4],
							Service:   []string{"api", "web"}[n%2],
							Source:    &eventv1.Source{Host: "host-1", FileId: ds + "-file", FilePath: "/var/log/" + ds + ".log", Offset: int64(d*perDay + n)},
						}
						e.Id = event.ID(e.Source)
						b, err := event.Marshal(e)
						if err != nil {
							return nil, err
						}
						docs = append(docs, archive.Doc{Time: ts, JSON: b})
						all = append(all, Event{ID: e.Id, Dataset: ds, Level: e.Level, Service: e.Service, Time: ts})
						offset[part]++
					}
					k := archive.Key{Dataset: ds, Day: day, Topic: "logs." + ds, Partition: part, FirstOffset: firstOffset, LastOffset: offset[part] - 1}
					if _, err := st.Write(ctx, k, docs); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return all, nil
}

// WriteLegacy writes a tree <dataset>/YYYY/MM/DD/host<N>.gz of days from
// Day1, files per day of perFile raw lines each starting with its time (one
// a minute); it returns each day's times in file order.
func WriteLegacy(dir, dataset string, days, files, perFile int) (map[int][]time.Time, error) {
	out := map[int][]time.Time{}
	for d := 0; d < days; d++ {
		day := Day1.AddDate(0, 0, d)
		folder := filepath.Join(dir, dataset, day.Format("2006/01/02"))
		if err := os.MkdirAll(folder, 0o755); err != nil {
			return nil, err
		}
		for f := 0; f < files; f++ {
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			for i := 0; i < perFile; i++ {
				ts := day.Add(time.Duration(f*perFile+i) * time.Minute)
				out[d] = append(out[d], ts)
				fmt.Fprintf(gz, "%s ERROR worker %d failed: connection reset\n", ts.Format(time.RFC3339), i)
			}
			if err := gz.Close(); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(folder, fmt.Sprintf("host%d.gz", f)), buf.Bytes(), 0o644); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// IDs are the sorted ids of the events keep accepts.
func IDs(all []Event, keep func(Event) bool) []string {
	var out []string
	for _, e := range all {
		if keep(e) {
			out = append(out, e.ID)
		}
	}
	sort.Strings(out)
	return out
}

// In accepts the events of the datasets in [from, to).
func In(from, to time.Time, datasets ...string) func(Event) bool {
	return func(e Event) bool {
		for _, d := range datasets {
			if e.Dataset == d && !e.Time.Before(from) && e.Time.Before(to) {
				return true
			}
		}
		return false
	}
}
