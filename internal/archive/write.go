package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
	"gocloud.dev/blob"
)

// Doc is one event to archive.
type Doc struct {
	// Time is the event's @timestamp; it only feeds the manifest's time range.
	Time time.Time
	// JSON is the event's ECS JSON document.
	JSON []byte
}

// Object is a data object as its manifest describes it.
type Object struct {
	Key
	Events int64 `json:"events"`
	// Bytes is the object's (compressed) size: what a reader downloads.
	Bytes int64 `json:"bytes"`
	// RawBytes is the size of the NDJSON inside.
	RawBytes int64     `json:"raw_bytes"`
	MinTime  time.Time `json:"min_time"`
	MaxTime  time.Time `json:"max_time"`
	Written  time.Time `json:"written"`
}

// Write stores docs as the object k and then its manifest, replacing both if
// they exist. When it returns nil both are durable (the bucket's writers closed
// without error, and local files are fsynced); on error the object may be
// partly written but has no manifest, so readers do not see it.
func (s *Store) Write(ctx context.Context, k Key, docs []Doc) (Object, error) {
	if len(docs) == 0 {
		return Object{}, fmt.Errorf("archive %s: no events", k.Path())
	}
	o := Object{Key: k, Events: int64(len(docs)), MinTime: docs[0].Time.UTC(), MaxTime: docs[0].Time.UTC()}
	for _, d := range docs[1:] {
		if d.Time.Before(o.MinTime) {
			o.MinTime = d.Time.UTC()
		}
		if d.Time.After(o.MaxTime) {
			o.MaxTime = d.Time.UTC()
		}
	}
	var err error
	if o.Bytes, o.RawBytes, err = s.writeData(ctx, k.Path(), docs); err != nil {
		return Object{}, fmt.Errorf("archive %s: %w", k.Path(), err)
	}
	o.Written = time.Now().UTC()
	m, err := json.Marshal(o)
	if err != nil {
		return Object{}, err
	}
	if err := s.bucket.WriteAll(ctx, k.ManifestPath(), m, &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return Object{}, fmt.Errorf("archive %s: %w", k.ManifestPath(), err)
	}
	if err := s.sync(k.ManifestPath()); err != nil {
		return Object{}, fmt.Errorf("archive %s: %w", k.ManifestPath(), err)
	}
	return o, nil
}

// writeData writes the gzip NDJSON object and returns its compressed and raw sizes.
func (s *Store) writeData(ctx context.Context, path string, docs []Doc) (size, raw int64, err error) {
	// Cancelling the writer's context is how a blob write is abandoned
	// instead of published.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, path, &blob.WriterOptions{ContentType: "application/gzip"})
	if err != nil {
		return 0, 0, err
	}
	cw := &countingWriter{w: w}
	gz := gzip.NewWriter(cw)
	var line bytes.Buffer
	for _, d := range docs {
		doc := oneLine(d.JSON, &line)
		raw += int64(len(doc)) + 1
		if _, err = gz.Write(doc); err == nil {
			_, err = gz.Write(newline)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		cancel()
		w.Close()
		return 0, 0, err
	}
	if err := w.Close(); err != nil {
		return 0, 0, err
	}
	return cw.n, raw, s.sync(path)
}

var newline = []byte{'\n'}

// oneLine returns doc as a single line: documents are compact JSON already,
// but one with a line break would split into two NDJSON lines.
func oneLine(doc []byte, buf *bytes.Buffer) []byte {
	if bytes.IndexByte(doc, '\n') < 0 {
		return doc
	}
	buf.Reset()
	if json.Compact(buf, doc) == nil {
		return buf.Bytes()
	}
	// Not JSON at all: keep it, on one line, for whoever reads it back.
	return bytes.ReplaceAll(doc, newline, []byte{' '})
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
