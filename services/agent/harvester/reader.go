package harvester

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/envelope"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/lines"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/multiline"
)

// reader reads one open file from st.next on.
type reader struct {
	h     *Harvester
	in    *input
	st    *fileState
	f     *os.File
	lines *lines.Reader
	env   *envelope.Decoder // set for container logs
	ml    *multiline.Aggregator
	// size is the file size last seen at its end; lastData when it last grew.
	size     int64
	lastData time.Time
	// path, readTime and fileTime are refreshed now and then rather than
	// per line.
	path     string
	readTime time.Time
	stamped  int
	fileTime *timestamppb.Timestamp // set while the file is a back-filled one
}

const readBufferBytes = 64 << 10

// read runs one reader until its file is done with, or ctx is done.
func (h *Harvester) read(ctx context.Context, in *input, st *fileState, f *os.File, di devIno, size int64) {
	defer func() {
		f.Close()
		h.mu.Lock()
		delete(h.open, di)
		h.mu.Unlock()
		st.mu.Lock()
		st.reading = false
		st.mu.Unlock()
		h.m.openFiles.Dec()
	}()
	st.mu.Lock()
	start, gz, path := st.next, st.gz, st.path
	st.mu.Unlock()
	log := h.log.With("input", in.Name, "path", path, "file_id", st.id)

	var src io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err == nil {
			// Offsets in a .gz are offsets in its decompressed content.
			_, err = io.CopyN(io.Discard, zr, start)
		}
		if err != nil {
			log.Warn("cannot read compressed file", "err", err)
			h.gzFailed(st, size)
			return
		}
		src = zr
	} else {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			log.Warn("cannot seek", "offset", start, "err", err)
			return
		}
		src = &truncationGuard{h: h, f: f, id: st.id, pos: start}
	}
	r := &reader{h: h, in: in, st: st, f: f, size: size, lastData: time.Now(), path: path,
		lines: lines.NewReader(src, start, h.cfg.MaxLineBytes, readBufferBytes)}
	if info, err := f.Stat(); err == nil {
		r.fileTime = fileTime(path, info, time.Now())
	}
	if in.format != envelope.None {
		r.env = envelope.NewDecoder(in.format, h.cfg.MaxLineBytes)
	}
	if in.multiline != nil {
		r.ml = multiline.New(in.multiline, h.cfg.MaxLineBytes)
	}
	log.Debug("reading", "offset", start)

	wait := h.cfg.PollInterval / 8
	for {
		ln, err := r.lines.Next()
		if err == nil {
			if r.line(ctx, ln) != nil {
				return
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errTruncated) {
			log.Info("file truncated or rewritten: done with this content here", "offset", r.lines.Pos())
			return
		}
		if !errors.Is(err, io.EOF) {
			switch {
			case gz && errors.Is(err, io.ErrUnexpectedEOF):
				log.Info("compressed file ends early (still being written?); retrying when it changes")
				h.gzFailed(st, size)
			case gz:
				log.Warn("compressed file is corrupt; retrying when it changes", "err", err)
				h.gzFailed(st, size)
			default:
				log.Warn("read failed; retrying at the next scan", "err", err)
			}
			return
		}
		if gz {
			if r.finish(ctx) == nil {
				st.mu.Lock()
				st.eof = true
				st.advance()
				st.mu.Unlock()
				h.markDirty()
				log.Info("compressed file read", "bytes", r.lines.Pos())
			}
			return
		}
		if r.env != nil && r.env.Pending() && time.Since(r.lastData) >= partialTimeout {
			if r.flushPartial(ctx) != nil {
				return
			}
		}
		if r.ml != nil && r.ml.Pending() && time.Since(r.lastData) >= in.Multiline.Timeout {
			if r.flushEvent(ctx) != nil {
				return
			}
		}
		r.refresh()
		switch h.atEOF(r) {
		case readMore:
			wait = h.cfg.PollInterval / 8
			continue
		case closeTruncated:
			log.Info("file truncated or rewritten: done with this content here", "offset", r.lines.Pos())
			return
		case closeRemoved:
			r.finish(ctx)
			log.Info("file removed: read to its end", "offset", r.lines.Pos())
			return
		case closeInactive:
			log.Debug("file inactive: closing", "offset", r.lines.Pos())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, h.cfg.PollInterval)
	}
}

func (h *Harvester) gzFailed(st *fileState, size int64) {
	st.mu.Lock()
	st.failedSize = size
	st.mu.Unlock()
}

// refresh picks up the file's current name and the time.
func (r *reader) refresh() {
	r.st.mu.Lock()
	r.path = r.st.path
	r.st.lastSeen = time.Now()
	r.st.mu.Unlock()
	r.readTime, r.stamped = time.Now(), 0
	if r.fileTime != nil { // a back-filled file that grows is live again
		if info, err := r.f.Stat(); err == nil {
			r.fileTime = fileTime(r.path, info, time.Now())
		}
	}
}

// partialTimeout ships a container's partial line that nothing has
// continued for this long: the engine writes the parts of a line at once,
// so the rest is not coming (the container stopped mid-line).
const partialTimeout = 5 * time.Second

// line takes one physical line.
func (r *reader) line(ctx context.Context, ln lines.Line) error {
	r.in.m.linesRead.Inc()
	r.in.m.bytesRead.Add(float64(ln.End - ln.Start))
	if r.env == nil {
		return r.message(ctx, ln)
	}
	out, err := r.env.Add(ln)
	if err != nil {
		// Shipped as it is: the router keeps what it cannot parse.
		r.in.m.linesUndecodable.Inc()
	}
	for _, m := range out {
		if err := r.message(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// message takes one line as the application wrote it.
func (r *reader) message(ctx context.Context, ln lines.Line) error {
	if r.ml == nil {
		return r.event(ctx, ln)
	}
	if ev, ok := r.ml.Add(ln); ok {
		return r.event(ctx, ev)
	}
	return nil
}

// finish ships what is left of a file that will not grow: its last line
// without a newline and the event being joined.
func (r *reader) finish(ctx context.Context) error {
	if ln, ok := r.lines.Rest(); ok {
		if err := r.line(ctx, ln); err != nil {
			return err
		}
	}
	if err := r.flushPartial(ctx); err != nil {
		return err
	}
	return r.flushEvent(ctx)
}

// flushPartial ships the container's line being joined.
func (r *reader) flushPartial(ctx context.Context) error {
	if r.env == nil {
		return nil
	}
	if ln, ok := r.env.Flush(); ok {
		return r.message(ctx, ln)
	}
	return nil
}

func (r *reader) flushEvent(ctx context.Context) error {
	if r.ml == nil {
		return nil
	}
	if ev, ok := r.ml.Flush(); ok {
		return r.event(ctx, ev)
	}
	return nil
}

// event filters an event and hands it to the input's batcher.
func (r *reader) event(ctx context.Context, ev lines.Line) error {
	if !r.in.keep(ev.Bytes) {
		r.in.m.linesExcluded.Inc()
		r.in.batch.skip(r.st, ev.End)
		return nil
	}
	if ev.Truncated {
		r.in.m.linesTruncated.Inc()
	}
	if r.readTime.IsZero() || r.stamped >= 1024 {
		r.readTime, r.stamped = time.Now(), 0
	}
	r.stamped++
	l := shipLine{bytes: ev.Bytes, start: ev.Start, readTime: r.readTime, truncated: ev.Truncated, path: r.path, fileTime: r.fileTime}
	if !ev.Time.IsZero() {
		// A container's line carries when the engine got it: a closer
		// fallback for the event time than when it was read.
		l.readTime = ev.Time
	}
	return r.in.batch.add(ctx, r.st, l, ev.End, ev.Stream)
}

// keep applies include_lines, then exclude_lines.
func (in *input) keep(b []byte) bool {
	if len(in.include) > 0 {
		ok := false
		for _, re := range in.include {
			if re.Match(b) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, re := range in.exclude {
		if re.Match(b) {
			return false
		}
	}
	return true
}
