package archive

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
)

// Store is an archive in one bucket.
type Store struct {
	bucket *blob.Bucket
	// dir is the bucket's root when it is a local directory (file:// URLs):
	// fileblob renames a finished object into place but never fsyncs it, so
	// the store does, before an object counts as durable.
	dir string
}

// Open opens the archive at a gocloud.dev/blob URL: file:///var/lib/archive
// for a directory (created if missing), s3://bucket?region=…&endpoint=… for
// S3-compatible storage. The binary must import the drivers it supports
// (gocloud.dev/blob/fileblob, gocloud.dev/blob/s3blob).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("archive URL: %w", err)
	}
	var dir string
	if u.Scheme == "file" {
		dir = filepath.Clean(filepath.FromSlash(u.Path))
		q := u.Query()
		if !q.Has("create_dir") {
			q.Set("create_dir", "true")
		}
		// Objects are written to a temporary file and renamed into place:
		// next to their final path, not in os.TempDir, which is often another
		// file system (a container's /tmp while the archive is a volume or a
		// mount), where the rename fails with "invalid cross-device link".
		if !q.Has("no_tmp_dir") {
			q.Set("no_tmp_dir", "true")
		}
		u.RawQuery = q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		// The drivers quote the whole URL, credentials included.
		return nil, fmt.Errorf("archive %s: %s", redact(u), strings.ReplaceAll(err.Error(), u.String(), redact(u)))
	}
	return &Store{bucket: b, dir: dir}, nil
}

// redact drops the query (which may carry credentials) from u for messages.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	return c.String()
}

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// sync makes a just-written local object durable: the file, then every
// directory from its own up to the root (any of them may have just been made).
func (s *Store) sync(key string) error {
	if s.dir == "" {
		return nil
	}
	p := filepath.Join(s.dir, filepath.FromSlash(key))
	if err := fsync(p); err != nil {
		return err
	}
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		if err := fsync(d); err != nil {
			return err
		}
		if len(d) <= len(s.dir) {
			return nil
		}
	}
}

func fsync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
