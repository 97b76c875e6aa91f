package harvester

// Rotation, in one place. Every scan opens each matched file and decides what
// it is; every reader at the end of its file decides whether the file is done.
//
// Identity is the fingerprint of the first FingerprintBytes bytes, never the
// inode, so:
//
//   - rename rotation (app.log → app.log.1, new app.log): the reader keeps the
//     old file open and reads it to its end (writers may add to it for a
//     while), until it is inactive; a scan that finds it under its new name
//     knows it by its fingerprint, not as a new file. The new app.log has new
//     content, hence a new fingerprint: read from 0.
//   - copytruncate (app.log copied to app.log.1, then truncated): the reader
//     sees the file shrink below its position, or its first bytes change, and
//     stops. The copy has the same fingerprint, so when a pattern matches it,
//     reading resumes in the copy where the original left off: the lines
//     written between the last read and the copy are not lost, and nothing is
//     read twice. The truncated app.log is read from 0 once it has new content.
//   - deletion: the reader holds the file open, reads it to its end, ships the
//     last line even without its newline, and closes it. The registry entry is
//     forgotten ForgetAfter later, once no scan has seen the content.
//   - inode reuse (a new file gets a deleted file's inode): a different
//     fingerprint is a different file, read from 0 (Filebeat's registry, keyed
//     by inode, resumed such a file at the old offset and cut its first lines).
//   - a file shorter than FingerprintBytes has no identity yet and waits, as in
//     Filebeat 9 and Vector. A .gz file is read once, fully, and marked done.
//   - compression (app.log.1 → app.log.1.gz): a .gz file's fingerprint is
//     that of its decompressed first bytes, and its offsets are offsets in
//     its decompressed content, so it is the plain file it was made from:
//     reading resumes in it where the plain file was left (the rest of a
//     file compressed while the agent was away is not lost, what was read
//     is not read again).
//
// The known limit: files whose first FingerprintBytes bytes are identical
// (a long fixed header) are one file; raise fingerprint_bytes for them.

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/fingerprint"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/offsets"
)

// scan matches in's patterns and starts readers for the files with something
// to read, then forgets what has long been gone.
func (h *Harvester) scan(ctx context.Context, in *input) {
	now := time.Now()
	for _, path := range in.match(h) {
		if ctx.Err() != nil {
			return
		}
		h.consider(ctx, in, path, now)
	}
	h.forget(in, now)
}

// match lists the files matched by in's patterns and not excluded.
func (in *input) match(h *Harvester) []string {
	var out []string
	for _, p := range in.Paths {
		m, _ := filepath.Glob(p) // patterns were checked at start-up
		out = append(out, m...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(path string) bool {
		for _, x := range in.ExcludeFiles {
			if ok, _ := filepath.Match(x, path); ok {
				return true
			}
			if ok, _ := filepath.Match(x, filepath.Base(path)); ok {
				return true
			}
		}
		return false
	})
}

func isGzip(path string) bool { return strings.HasSuffix(path, ".gz") }

func statIDs(fi os.FileInfo) (di devIno, nlink uint64) {
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		return devIno{uint64(s.Dev), uint64(s.Ino)}, uint64(s.Nlink)
	}
	return devIno{}, 1
}

// consider decides what the file at path is, and reads it if there is
// something to read.
func (h *Harvester) consider(ctx context.Context, in *input, path string, now time.Time) {
	flags := os.O_RDONLY
	if !in.FollowSymlinks {
		flags |= syscall.O_NOFOLLOW // a link fails to open (ELOOP), atomically
	}
	f, err := os.OpenFile(path, flags, 0)
	if errors.Is(err, syscall.ELOOP) {
		h.log.Debug("skipping a symbolic link (follow_symlinks is off)", "input", in.Name, "path", path)
		return
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			h.log.Warn("cannot open file", "input", in.Name, "path", path, "err", err)
		}
		return
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if !in.FollowSymlinks && !in.inTree(path, fi) {
		h.log.Debug("skipping a file reached through a symbolic link (follow_symlinks is off)", "input", in.Name, "path", path)
		return
	}
	di, _ := statIDs(fi)

	// A file being read is pinned by its reader's descriptor: its inode cannot
	// have been reused, so it is the same file, perhaps under a new name. (Its
	// reader notices truncation by itself.)
	h.mu.Lock()
	if st := h.open[di]; st != nil {
		h.mu.Unlock()
		st.mu.Lock()
		st.path, st.lastSeen = path, now
		st.mu.Unlock()
		return
	}
	h.mu.Unlock()

	gz := isGzip(path)
	id, ok := h.identify(f, fi.Size(), gz)
	if !ok {
		return
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.files[id]
	if st == nil {
		st = newFileState(offsets.Entry{ID: id, Input: in.Name, Path: path, Dev: di.dev, Ino: di.ino}, now)
		h.files[id] = st
		h.log.Info("new file", "input", in.Name, "path", path, "file_id", id)
		h.markDirty()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.input != in.Name {
		if h.hasInput(st.input) {
			return // two inputs match this file: the first one keeps it
		}
		st.input = in.Name // its input was removed from the configuration
	}
	st.lastSeen = now
	if st.reading || st.eof {
		// Being read under another name (a copytruncate copy while the
		// original is still open), or a .gz already read.
		return
	}
	switch sameInode := st.dev == di.dev && st.ino == di.ino; {
	case gz:
		if st.failedSize == fi.Size() {
			return // ended early before and has not changed since
		}
	case fi.Size() < st.next && !sameInode:
		// An older copy of content already read: copytruncate copies, then
		// the writer adds lines to the original before it is truncated.
		return
	case fi.Size() < st.next:
		// The very file, shorter than what was read, yet with the same first
		// bytes: truncated and rewritten with an identical beginning. Start
		// over, once the old content's batches are settled.
		if len(st.spans) > 0 {
			return
		}
		h.log.Warn("file truncated: reading it from the start", "input", in.Name, "path", path, "file_id", id, "size", fi.Size(), "offset", st.next)
		st.next, st.acked = 0, 0
	case fi.Size() == st.next:
		return // nothing new
	}
	st.path, st.dev, st.ino, st.gz = path, di.dev, di.ino, gz
	h.markDirty()
	st.reading = true
	h.open[di] = st
	keep = true
	h.m.openFiles.Inc()
	h.readers.Go(func() { h.read(ctx, in, st, f, di, fi.Size()) })
}

// identify fingerprints an open file; ok is false while it has no identity yet.
func (h *Harvester) identify(f *os.File, size int64, gz bool) (string, bool) {
	if gz {
		return h.identifyGzip(f, size)
	}
	n := h.cfg.FingerprintBytes
	head, err := fingerprint.Head(f, n)
	if err != nil {
		h.log.Warn("cannot read file", "path", f.Name(), "err", err)
		return "", false
	}
	if len(head) < n {
		return "", false // too short to be told apart: wait for it to grow
	}
	return fingerprint.ID(head), true
}

// identifyGzip fingerprints a .gz file by its content's first bytes, so that
// it is the very file it was compressed from (rotation with logrotate's
// compress or Docker's compress=true): reading resumes in it where the plain
// file was left, nothing is read twice, and what was not read yet when the
// plain file went is not lost. A file the registry knows by its compressed
// bytes (the rule before this one) keeps that identity. Content shorter
// than the fingerprint is an identity only once the file decompresses to
// its end (it may still be being written).
func (h *Harvester) identifyGzip(f *os.File, size int64) (string, bool) {
	n := h.cfg.FingerprintBytes
	raw, err := fingerprint.Head(f, n)
	if err != nil {
		h.log.Warn("cannot read file", "path", f.Name(), "err", err)
		return "", false
	}
	h.mu.Lock()
	_, legacy := h.files[fingerprint.ID(raw)]
	h.mu.Unlock()
	if legacy {
		return fingerprint.ID(raw), true
	}
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, size))
	if err != nil {
		return "", false // not even a gzip header yet
	}
	// Fewer than n bytes without an error: the stream ended, complete.
	head, err := io.ReadAll(io.LimitReader(zr, int64(n)))
	if err != nil {
		return "", false
	}
	return fingerprint.ID(head), true
}

// forget drops the entries of in (or of inputs no longer configured) that no
// scan has seen for ForgetAfter and that have nothing left in flight.
func (h *Harvester) forget(in *input, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, st := range h.files {
		st.mu.Lock()
		gone := (st.input == in.Name || !h.hasInput(st.input)) && !st.reading && len(st.spans) == 0 &&
			now.Sub(st.lastSeen) > h.cfg.ForgetAfter
		path := st.path
		st.mu.Unlock()
		if gone {
			delete(h.files, id)
			h.log.Info("forgetting file not seen for a while", "input", in.Name, "path", path, "file_id", id, "after", h.cfg.ForgetAfter)
			h.markDirty()
		}
	}
}

// hasInput reports whether an input of that name runs; h.mu must be held.
func (h *Harvester) hasInput(name string) bool { return h.inputs[name] != nil }

// eofAction is what a reader at the end of its file does next.
type eofAction int

const (
	waitForData    eofAction = iota // nothing new yet: poll again later
	readMore                        // the file grew
	closeTruncated                  // copytruncate or rewritten: this content is over here
	closeRemoved                    // deleted and read to its end
	closeInactive                   // no growth for CloseInactive
)

// atEOF decides, for a reader that has read everything up to pos, what the
// file has become.
func (h *Harvester) atEOF(r *reader) eofAction {
	fi, err := r.f.Stat()
	if err != nil {
		h.log.Warn("cannot stat open file", "path", r.f.Name(), "err", err)
		return closeRemoved
	}
	size := fi.Size()
	if size < r.lines.Pos() {
		return closeTruncated
	}
	if size != r.size {
		r.size = size
		// Truncated and written past our position between two looks: the
		// first bytes tell.
		if !h.sameContent(r.f, r.st.id) {
			return closeTruncated
		}
		r.lastData = time.Now()
		return readMore
	}
	if _, nlink := statIDs(fi); nlink == 0 {
		return closeRemoved
	}
	if time.Since(r.lastData) >= h.cfg.CloseInactive {
		return closeInactive
	}
	return waitForData
}

// sameContent reports whether f still starts with the bytes fingerprinted id.
func (h *Harvester) sameContent(f *os.File, id string) bool {
	head, err := fingerprint.Head(f, h.cfg.FingerprintBytes)
	return err == nil && fingerprint.ID(head) == id
}

// errTruncated ends a reader whose file was truncated under it.
var errTruncated = errors.New("file truncated under the reader")

// truncationGuard reads a plain file, checking before each read that the
// file still holds the content being read (it costs an fstat and a small
// pread per read buffer). A reader paused by backpressure may come back to a
// file that copytruncate truncated and the writer filled past the reader's
// position; without the check it would take the new bytes for the
// continuation of the old content.
type truncationGuard struct {
	h   *Harvester
	f   *os.File
	id  string
	pos int64
}

func (g *truncationGuard) Read(p []byte) (int, error) {
	fi, err := g.f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() < g.pos || !g.h.sameContent(g.f, g.id) {
		return 0, errTruncated
	}
	n, err := g.f.Read(p)
	g.pos += int64(n)
	return n, err
}
