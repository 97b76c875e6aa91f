package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/polltest"
)

// The three inputs. Every line carries "seq-<n>" in its message: n is unique
// across the test and names the line's dataset and event time.
var datasets = []string{"nginx.access", "app", "syslog"}

// plan is the lines a test writes: line n belongs to datasets[n%3] and its
// event time is base + n*step, written in the dataset's own format (and
// precision: seconds for combined, milliseconds for JSON, microseconds for
// syslog), in a zone that is not UTC for two of them.
type plan struct {
	base time.Time
	step time.Duration
}

// newPlan spreads n lines over the four days before today (UTC), so they fall
// into four daily indices and date folders.
func newPlan(n int) plan {
	base := time.Now().UTC().Truncate(24 * time.Hour).Add(-4 * 24 * time.Hour)
	return plan{base: base, step: (4 * 24 * time.Hour / time.Duration(n)).Truncate(time.Millisecond)}
}

func (p plan) dataset(n int) string { return datasets[n%len(datasets)] }

// time is line n's own time, at its format's precision.
func (p plan) time(n int) time.Time {
	t := p.base.Add(time.Duration(n)*p.step + time.Duration(n%997)*time.Microsecond)
	switch p.dataset(n) {
	case "nginx.access":
		return t.Truncate(time.Second)
	case "app":
		return t.Truncate(time.Millisecond)
	}
	return t.Truncate(time.Microsecond)
}

var (
	west = time.FixedZone("", -7*3600)
	east = time.FixedZone("", 2*3600)
)

func (p plan) line(n int) string {
	t := p.time(n)
	switch p.dataset(n) {
	case "nginx.access":
		return fmt.Sprintf(`10.%d.%d.%d - - [%s] "GET /items/seq-%d HTTP/1.1" %d %d "-" "e2e/1.0"`,
			n%200, (n/200)%250, n%250+1, t.In(west).Format("02/Jan/2006:15:04:05 -0700"), n, 200+n%5, 100+n%9000)
	case "app":
		return fmt.Sprintf(`{"time":%q,"level":"info","message":"order seq-%d processed","user":"u%d","amount":%d}`,
			t.Format("2006-01-02T15:04:05.000Z07:00"), n, n%1000, n%777)
	}
	return fmt.Sprintf(`<165>1 %s web-%d app %d ID%d - seq-%d user logged in from 10.0.%d.%d`,
		t.In(east).Format("2006-01-02T15:04:05.000000-07:00"), n%4, 1000+n%50, n%100, n, n%250, n%200)
}

// files are the inputs' current files, with the rotations of the exactness
// test. The writer is the log's only writer, as a service would be.
type files struct {
	t    *testing.T
	dir  string
	w    map[string]*os.File
	bufs map[string]*bufio.Writer
	// syslogName is the syslog input's current file (a.log, then b.log after
	// the inode-reuse sequence).
	syslogName string
}

func newFiles(t *testing.T, dir string) *files {
	f := &files{t: t, dir: dir, w: map[string]*os.File{}, bufs: map[string]*bufio.Writer{}, syslogName: "a.log"}
	t.Cleanup(f.close)
	return f
}

func (f *files) path(ds string) string {
	switch ds {
	case "nginx.access":
		return filepath.Join(f.dir, "nginx", "access.log")
	case "app":
		return filepath.Join(f.dir, "app", "app.log")
	case "syslog":
		return filepath.Join(f.dir, "syslog", f.syslogName)
	}
	return filepath.Join(f.dir, "bad", "bad.log")
}

func (f *files) writer(ds string) *bufio.Writer {
	if b := f.bufs[ds]; b != nil {
		return b
	}
	// O_APPEND: after a copytruncate the writer goes on at the new end, as
	// services logging with O_APPEND do (without it they leave a hole).
	w, err := os.OpenFile(f.path(ds), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	f.w[ds], f.bufs[ds] = w, bufio.NewWriterSize(w, 256<<10)
	return f.bufs[ds]
}

func (f *files) write(ds, line string) {
	b := f.writer(ds)
	b.WriteString(line)
	b.WriteByte('\n')
}

func (f *files) flush() {
	for ds, b := range f.bufs {
		if err := b.Flush(); err != nil {
			f.t.Fatalf("write %s: %v", ds, err)
		}
	}
}

func (f *files) closeOne(ds string) {
	if b := f.bufs[ds]; b != nil {
		if err := b.Flush(); err != nil {
			f.t.Fatal(err)
		}
		if err := f.w[ds].Close(); err != nil {
			f.t.Fatal(err)
		}
		delete(f.bufs, ds)
		delete(f.w, ds)
	}
}

func (f *files) close() {
	for ds := range f.bufs {
		f.closeOne(ds)
	}
}

// renameRotate: access.log becomes access.log.1, the next line starts a new
// access.log (logrotate's default).
func (f *files) renameRotate() {
	f.closeOne("nginx.access")
	p := f.path("nginx.access")
	if err := os.Rename(p, p+".1"); err != nil {
		f.t.Fatal(err)
	}
	f.t.Logf("rename rotation: %s -> %s.1", filepath.Base(p), filepath.Base(p))
}

// copyTruncate: app.log is copied to app.log.1 and truncated in place while
// the writer keeps its descriptor (logrotate's copytruncate). The copy is
// made under a name no pattern matches and renamed when complete, so the
// harvester never sees half a copy. No line is written between the copy and
// the truncation (logrotate loses those; this writer waits for it).
func (f *files) copyTruncate() {
	f.flush()
	p := f.path("app")
	src, err := os.Open(p)
	if err != nil {
		f.t.Fatal(err)
	}
	defer src.Close()
	tmp := filepath.Join(filepath.Dir(p), "copy.tmp")
	dst, err := os.Create(tmp)
	if err != nil {
		f.t.Fatal(err)
	}
	n, err := io.Copy(dst, src)
	if err == nil {
		err = dst.Close()
	}
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, p+".1"); err != nil {
		f.t.Fatal(err)
	}
	if err := f.w["app"].Truncate(0); err != nil {
		f.t.Fatal(err)
	}
	f.t.Logf("copytruncate: %s copied (%d bytes) to %s.1 and truncated", filepath.Base(p), n, filepath.Base(p))
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// inodeReuse deletes the syslog input's a.log and creates b.log with the same
// inode: it waits until the harvester has read a.log to its end and closed
// it (the inode is freed only then), creating and removing empty candidates
// until one gets the old inode. Empty files have no identity yet, so the
// harvester ignores the candidates. If no candidate gets it before the
// deadline, b.log is used anyway and the reuse is reported as skipped.
func (f *files) inodeReuse(ctx context.Context) (reused bool) {
	f.closeOne("syslog")
	old := f.path("syslog")
	ino := inode(f.t, old)
	if err := os.Remove(old); err != nil {
		f.t.Fatal(err)
	}
	f.syslogName = "b.log"
	next := f.path("syslog")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tries := 0
	err := polltest.Wait(ctx, func() (bool, error) {
		tries++
		w, err := os.OpenFile(next, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return false, err
		}
		w.Close()
		if inode(f.t, next) == ino {
			return true, nil
		}
		return false, os.Remove(next)
	})
	if err != nil {
		f.t.Logf("inode reuse SKIPPED: no new file got a.log's inode %d in %d tries (%v); b.log is a new inode", ino, tries, err)
		if _, err := os.Stat(next); err != nil {
			w, err := os.Create(next)
			if err != nil {
				f.t.Fatal(err)
			}
			w.Close()
		}
		return false
	}
	f.t.Logf("inode reuse: a.log (inode %d) deleted; b.log created with the same inode (after %d tries)", ino, tries)
	return true
}

// writeRange writes lines [from, to) at about rate lines per second, calling
// at(n) before line n (rotations, faults); at may be nil.
func (f *files) writeRange(ctx context.Context, p plan, from, to, rate int, at func(n int)) {
	const tick = 50 * time.Millisecond
	perTick := max(1, rate*int(tick)/int(time.Second))
	next := time.Now()
	for n := from; n < to; n++ {
		if at != nil {
			at(n)
		}
		f.write(p.dataset(n), p.line(n))
		if (n-from+1)%perTick == 0 {
			f.flush()
			next = next.Add(tick)
			select {
			case <-ctx.Done():
				f.t.Fatal(ctx.Err())
			case <-time.After(time.Until(next)):
			}
		}
	}
	f.flush()
}

// badLines writes malformed, binary and oversized lines to the app.bad input
// (JSON), numbered from first; it returns how many of each.
func (f *files) badLines(first int) (malformed, binary, oversized int) {
	malformed, binary, oversized = 100, 50, 20
	n := first
	for range malformed {
		f.write("app.bad", fmt.Sprintf(`{"message": "seq-%d malformed", "user": `, n))
		n++
	}
	for range binary {
		f.write("app.bad", fmt.Sprintf("{\"time\":%q,\"message\":\"seq-%d binary \xff\xfe\xc3\x28 bytes\"}",
			time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), n))
		n++
	}
	for range oversized {
		f.write("app.bad", fmt.Sprintf(`{"message":"seq-%d oversized","pad":"%s"}`, n, strings.Repeat("x", 3*maxLineBytes)))
		n++
	}
	f.flush()
	return
}
