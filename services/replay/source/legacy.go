package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"gocloud.dev/blob"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/parse"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// DefaultTemplate is the seed's layout: error/2015/10/21/*.gz.
const DefaultTemplate = "{dataset}/{yyyy}/{mm}/{dd}/*.gz"

// Bounds on reading a legacy file: a line longer than MaxLineBytes is cut
// there (the rest of it skipped; offsets stay those of the file), and a file
// is read up to MaxDecompressedBytes of decompressed data (a 254 KB gzip can
// hold a 256 MiB line). The line cap is the harvester's max_line_bytes: the
// event made of a line holds it more than once (message, source, keywords),
// and a 1 MiB line made a row the embedded index refuses (2 MiB), failing
// the replay. Variables so that tests can lower them.
var (
	MaxLineBytes               = 256 << 10
	MaxDecompressedBytes int64 = 4 << 30
)

// Legacy reads a tree of raw gzip log files laid out by date. Each line is
// parsed with the configured parser, its time taken from the line (the
// file's date stands in for a missing year, or a missing time). An event's id
// derives from the tree's URL, the file's path and the line's offset, so
// replaying the same tree again yields the same ids.
type Legacy struct {
	url      string
	template string
	bucket   *blob.Bucket
	parser   *parse.Parser
}

// OpenLegacy opens the tree at a gocloud.dev/blob URL. template names the
// files of one dataset's day with {dataset}, {yyyy}, {mm} and {dd}, and glob
// characters (* ? [...]) in its last segment.
func OpenLegacy(ctx context.Context, url, template string, p *routingv1.Parser) (*Legacy, error) {
	if err := CheckTemplate(template); err != nil {
		return nil, err
	}
	pp, err := parse.New(p)
	if err != nil {
		return nil, err
	}
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("legacy tree: %w", err)
	}
	return &Legacy{url: url, template: template, bucket: b, parser: pp}, nil
}

// CheckTemplate says whether a path template can name one dataset's day.
func CheckTemplate(t string) error {
	if !strings.Contains(t, "{dd}") || !strings.Contains(t, "{mm}") || !strings.Contains(t, "{yyyy}") {
		return errors.New("must contain {yyyy}, {mm} and {dd}")
	}
	if strings.HasPrefix(t, "/") || strings.Contains(t, "..") {
		return errors.New("must be a relative path without '..'")
	}
	dir := path.Dir(t)
	if strings.ContainsAny(dir, "*?[") {
		return errors.New("glob characters only in the file name")
	}
	if _, err := path.Match(path.Base(t), ""); err != nil {
		return fmt.Errorf("bad file pattern: %w", err)
	}
	return nil
}

func (l *Legacy) expand(dataset string, day time.Time) string {
	return strings.NewReplacer(
		"{dataset}", dataset,
		"{yyyy}", fmt.Sprintf("%04d", day.Year()),
		"{mm}", fmt.Sprintf("%02d", day.Month()),
		"{dd}", fmt.Sprintf("%02d", day.Day()),
	).Replace(l.template)
}

// Datasets lists the top-level folders when the template starts with
// {dataset}/; otherwise it cannot tell.
func (l *Legacy) Datasets(ctx context.Context) ([]string, error) {
	if !strings.HasPrefix(l.template, "{dataset}/") {
		return nil, nil
	}
	out := []string{}
	it := l.bucket.List(&blob.ListOptions{Delimiter: "/"})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("legacy tree list: %w", err)
		}
		if o.IsDir {
			out = append(out, strings.TrimSuffix(o.Key, "/"))
		}
	}
}

// Plan lists each day's matching files, by dataset, then day, then name.
func (l *Legacy) Plan(ctx context.Context, datasets []string, from, to time.Time) ([]File, Estimate, error) {
	est := Estimate{Events: -1}
	var files []File
	for _, ds := range datasets {
		for d := archive.Midnight(from); d.Before(to); d = d.AddDate(0, 0, 1) {
			pattern := l.expand(ds, d)
			var day []File
			it := l.bucket.List(&blob.ListOptions{Prefix: path.Dir(pattern) + "/", Delimiter: "/"})
			for {
				o, err := it.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil, Estimate{}, fmt.Errorf("legacy tree list %s: %w", pattern, err)
				}
				if ok, _ := path.Match(pattern, o.Key); ok && !o.IsDir {
					day = append(day, File{Path: o.Key, Dataset: ds, Day: d, Bytes: o.Size, Events: -1})
				}
			}
			sort.Slice(day, func(i, j int) bool { return day[i].Path < day[j].Path })
			for _, f := range day {
				est.Files++
				est.Bytes += f.Bytes
			}
			files = append(files, day...)
		}
	}
	return files, est, nil
}

// Read parses the file's lines. The reference time for lines without a
// full date is the file's day (noon, so a zone offset cannot move it to
// another date).
func (l *Legacy) Read(ctx context.Context, f File, emit func(Record, int64) error) error {
	r, err := l.bucket.NewReader(ctx, f.Path, nil)
	if err != nil {
		return fmt.Errorf("legacy tree read %s: %w", f.Path, err)
	}
	defer r.Close()
	cr := &countingReader{r: r}
	gz, err := gzip.NewReader(bufio.NewReaderSize(cr, 64<<10))
	if err != nil {
		return fmt.Errorf("legacy tree read %s: %w", f.Path, err)
	}
	defer gz.Close()
	// A small file may expand without bound (a gzip bomb): stop at the cap.
	capped := &io.LimitedReader{R: gz, N: MaxDecompressedBytes + 1}
	br := bufio.NewReaderSize(capped, 64<<10)
	ref := f.Day.Add(12 * time.Hour)
	var offset, lineStart int64 // decompressed bytes consumed; where the current line began
	var line []byte
	for {
		// ReadSlice returns at most a buffer's worth: a longer line is kept
		// up to MaxLineBytes and the rest skipped, so memory stays bounded.
		chunk, err := br.ReadSlice('\n')
		if room := MaxLineBytes - len(line); room > 0 {
			line = append(line, chunk[:min(len(chunk), room)]...)
		}
		offset += int64(len(chunk))
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if text := trimEOL(line); len(text) > 0 {
			doc, id, merr := l.event(f, text, lineStart, ref)
			if merr != nil {
				return merr
			}
			if err := emit(Record{Doc: doc, ID: id}, cr.n); err != nil {
				return err
			}
		}
		lineStart, line = offset, line[:0]
		if capped.N <= 0 {
			return fmt.Errorf("legacy tree read %s: expands beyond %d bytes; the rest is not read", f.Path, MaxDecompressedBytes)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("legacy tree read %s: %w", f.Path, err)
		}
	}
}

func (l *Legacy) event(f File, line []byte, offset int64, ref time.Time) ([]byte, string, error) {
	e := l.parser.Parse(parse.Input{Line: line, ReadTime: ref})
	e.Id = event.ID(&eventv1.Source{Host: l.url, FileId: f.Path, Offset: offset})
	e.Dataset = f.Dataset
	e.Source = &eventv1.Source{FilePath: f.Path, Offset: offset}
	doc, err := event.Marshal(e)
	return doc, e.Id, err
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Close closes the bucket.
func (l *Legacy) Close() error { return l.bucket.Close() }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
