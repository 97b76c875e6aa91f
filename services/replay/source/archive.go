package source

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/hindsight-dev/hindsight/internal/archive"
)

// Archive reads Hindsight's archive (package archive's layout).
type Archive struct {
	store *archive.Store
}

// OpenArchive opens the archive at a gocloud.dev/blob URL.
func OpenArchive(ctx context.Context, url string) (*Archive, error) {
	s, err := archive.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return &Archive{store: s}, nil
}

// Datasets lists the archive's dataset folders.
func (a *Archive) Datasets(ctx context.Context) ([]string, error) {
	ds, err := a.store.Datasets(ctx)
	if ds == nil && err == nil {
		ds = []string{} // known to be empty
	}
	return ds, err
}

// Plan lists the objects from the days' manifests; the estimate's event
// count is exact for whole days and an upper bound otherwise.
func (a *Archive) Plan(ctx context.Context, datasets []string, from, to time.Time) ([]File, Estimate, error) {
	objs, est, err := a.store.Plan(ctx, datasets, from, to)
	if err != nil {
		return nil, Estimate{}, err
	}
	files := make([]File, len(objs))
	for i, o := range objs {
		files[i] = File{Path: o.Path(), Dataset: o.Dataset, Day: o.Day, Bytes: o.Bytes, Events: o.Events}
	}
	return files, Estimate{Files: int64(est.Objects), Bytes: est.Bytes, Events: est.Events}, nil
}

// Read streams the object's documents. The archive keeps each event's id in
// its document, so records carry none of their own.
func (a *Archive) Read(ctx context.Context, f File, emit func(Record, int64) error) error {
	r, err := a.store.Read(ctx, f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	for n := 0; ; n++ {
		doc, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// The archive reader does not expose its position in the compressed
		// object; bytes are credited in proportion to lines.
		if err := emit(Record{Doc: doc}, proportion(f, n+1)); err != nil {
			return err
		}
	}
}

func proportion(f File, n int) int64 {
	if f.Events <= 0 {
		return 0
	}
	return min(f.Bytes, f.Bytes*int64(n)/f.Events)
}

// Close closes the bucket.
func (a *Archive) Close() error { return a.store.Close() }
