// Package offsets persists what the harvester has shipped: per file identity,
// the offset up to which the router has acknowledged every line. It is written
// atomically (temporary file, fsync, rename, fsync of the directory), so a crash
// leaves either the old or the new registry on disk, never a torn one.
package offsets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const version = 1

// Entry is one file's state.
type Entry struct {
	// ID is the file's fingerprint (see package fingerprint): its identity.
	ID string `json:"id"`
	// Input is the name of the input that harvests the file.
	Input string `json:"input"`
	// Path is where the file was last seen (informational: files move).
	Path string `json:"path"`
	// Offset is the end of the last line acknowledged by the router, with every
	// line before it acknowledged too: where reading resumes after a restart.
	Offset int64 `json:"offset"`
	// Dev and Ino are hints for diagnosis; identity is ID, since inode numbers
	// are reused.
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Done marks a compressed file read to its end and acknowledged: such
	// files are read once and never again.
	Done bool `json:"done,omitempty"`
}

type file struct {
	Version int `json:"version"`
	// FingerprintBytes is the fingerprint length the IDs were computed with.
	FingerprintBytes int     `json:"fingerprint_bytes"`
	Files            []Entry `json:"files"`
}

// Store is the offsets file at Path, whose IDs are fingerprints of
// FingerprintBytes bytes.
type Store struct {
	Path             string
	FingerprintBytes int
}

// Load reads the registry; a missing file is an empty registry. A registry
// made with another fingerprint length is refused: its IDs would match no
// file, and every file would be shipped again from the start.
func (r Store) Load() ([]Entry, error) {
	b, err := os.ReadFile(r.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("registry %s: %w (move it away to ship every file again from the start)", r.Path, err)
	}
	if f.Version != version {
		return nil, fmt.Errorf("registry %s: version %d, want %d", r.Path, f.Version, version)
	}
	if f.FingerprintBytes != r.FingerprintBytes {
		return nil, fmt.Errorf("registry %s: made with fingerprint_bytes %d, configured %d (a change would ship every file again)",
			r.Path, f.FingerprintBytes, r.FingerprintBytes)
	}
	return f.Files, nil
}

// Save replaces the registry with entries, atomically and durably.
func (r Store) Save(entries []Entry) error {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.MarshalIndent(file{Version: version, FingerprintBytes: r.FingerprintBytes, Files: entries}, "", " ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(r.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(r.Path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), r.Path); err != nil {
		return err
	}
	// The rename is only durable once the directory entry is.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
