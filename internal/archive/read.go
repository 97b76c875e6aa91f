package archive

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"gocloud.dev/blob"
)

// Estimate sums what a plan will read.
type Estimate struct {
	Objects int `json:"objects"`
	// Bytes is the compressed size to download; RawBytes the NDJSON inside.
	Bytes    int64 `json:"bytes"`
	RawBytes int64 `json:"raw_bytes"`
	// Events counts every event in the planned objects: exact for whole
	// days, an upper bound when the range cuts through an object (its reader
	// has to skip the events outside the range).
	Events int64 `json:"events"`
}

// maxPlanDays bounds a plan's range: a typo'd year must not walk millennia of
// empty folders.
const maxPlanDays = 3660

// manifestReads is how many manifests a listing fetches at once.
const manifestReads = 16

// Plan lists the objects of the datasets that may hold events with
// from <= @timestamp < to, in order of dataset, then time, and what reading
// them costs.
func (s *Store) Plan(ctx context.Context, datasets []string, from, to time.Time) ([]Object, Estimate, error) {
	if !from.Before(to) {
		return nil, Estimate{}, fmt.Errorf("archive plan: empty range %s to %s", from, to)
	}
	if to.Sub(from) > maxPlanDays*day {
		return nil, Estimate{}, fmt.Errorf("archive plan: range longer than %d days", maxPlanDays)
	}
	var plan []Object
	var est Estimate
	for _, ds := range datasets {
		var objs []Object
		for d := Midnight(from); d.Before(to); d = d.Add(day) {
			all, err := s.Day(ctx, ds, d)
			if err != nil {
				return nil, Estimate{}, err
			}
			for _, o := range all {
				if o.MaxTime.Before(from) || !o.MinTime.Before(to) {
					continue
				}
				objs = append(objs, o)
				est.Objects++
				est.Bytes += o.Bytes
				est.RawBytes += o.RawBytes
				est.Events += o.Events
			}
		}
		sort.SliceStable(objs, func(i, j int) bool { return objs[i].MinTime.Before(objs[j].MinTime) })
		plan = append(plan, objs...)
	}
	return plan, est, nil
}

// Day is the manifest of a dataset's day: every published object in its
// folder, ordered by topic, partition and offset.
func (s *Store) Day(ctx context.Context, dataset string, date time.Time) ([]Object, error) {
	prefix := DayPrefix(dataset, date)
	data := map[string]bool{}
	var manifests []string
	for lo, err := range s.list(ctx, &blob.ListOptions{Prefix: prefix, Delimiter: "/"}) {
		if err != nil {
			return nil, fmt.Errorf("archive list %s: %w", prefix, err)
		}
		switch {
		case strings.HasSuffix(lo.Key, dataSuffix):
			data[lo.Key] = true
		case strings.HasSuffix(lo.Key, manifestSuffix):
			manifests = append(manifests, lo.Key)
		}
	}
	objs := make([]Object, len(manifests))
	errs := make([]error, len(manifests))
	sem := make(chan struct{}, manifestReads)
	var wg sync.WaitGroup
	for i, m := range manifests {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			b, err := s.bucket.ReadAll(ctx, m)
			if err == nil {
				err = json.Unmarshal(b, &objs[i])
			}
			if err != nil {
				errs[i] = fmt.Errorf("archive manifest %s: %w", m, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A manifest whose data object is gone is being removed (see Recover).
	out := objs[:0]
	for _, o := range objs {
		if data[o.Path()] {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.FirstOffset < b.FirstOffset
	})
	return out, nil
}

// Datasets lists the archive's dataset folders.
func (s *Store) Datasets(ctx context.Context) ([]string, error) {
	var out []string
	for lo, err := range s.list(ctx, &blob.ListOptions{Delimiter: "/"}) {
		if err != nil {
			return nil, fmt.Errorf("archive list: %w", err)
		}
		if lo.IsDir && !strings.HasPrefix(lo.Key, "_") {
			out = append(out, strings.TrimSuffix(lo.Key, "/"))
		}
	}
	return out, nil
}

// list yields the bucket's objects that opts selects; a failed listing
// yields its error once and ends.
func (s *Store) list(ctx context.Context, opts *blob.ListOptions) iter.Seq2[*blob.ListObject, error] {
	return func(yield func(*blob.ListObject, error) bool) {
		it := s.bucket.List(opts)
		for {
			lo, err := it.Next(ctx)
			if err == io.EOF || !yield(lo, err) || err != nil {
				return
			}
		}
	}
}

// Reader streams the documents of one object.
type Reader struct {
	blob *blob.Reader
	gz   *gzip.Reader
	br   *bufio.Reader
	line []byte
}

// Read opens the data object at path (an Object's Path()).
func (s *Store) Read(ctx context.Context, path string) (*Reader, error) {
	br, err := s.bucket.NewReader(ctx, path, nil)
	if err != nil {
		return nil, fmt.Errorf("archive read %s: %w", path, err)
	}
	gz, err := gzip.NewReader(br)
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("archive read %s: %w", path, err)
	}
	return &Reader{blob: br, gz: gz, br: bufio.NewReaderSize(gz, 64<<10)}, nil
}

// Next returns the next document, valid until the following call, or io.EOF
// after the last one.
func (r *Reader) Next() ([]byte, error) {
	for {
		r.line = r.line[:0]
		for {
			chunk, err := r.br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				r.line = append(r.line, chunk...)
				continue
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			if len(r.line) > 0 {
				r.line = append(r.line, chunk...)
				chunk = r.line
			}
			if chunk = trimEOL(chunk); len(chunk) > 0 {
				return chunk, nil
			}
			if err != nil {
				return nil, err
			}
			break // an empty line
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Close releases the object.
func (r *Reader) Close() error {
	r.gz.Close()
	return r.blob.Close()
}
