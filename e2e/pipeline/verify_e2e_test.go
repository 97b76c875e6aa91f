package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "gocloud.dev/blob/fileblob"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

// want is what the pipeline must hold: every line of the plan below lines,
// and the bad lines [badFrom, badTo) with their expected tags.
type want struct {
	plan  plan
	lines int
	// bad lines: seq numbers and the tags each must carry.
	badTags map[int][]string
}

func (w want) total() int { return w.lines + len(w.badTags) }

var seqRE = regexp.MustCompile(`seq-(\d+)`)

// doc is what the checks read of a document, from OpenSearch or the archive.
type doc struct {
	Timestamp  string   `json:"@timestamp"`
	Message    string   `json:"message"`
	Tags       []string `json:"tags"`
	DataStream struct {
		Dataset string `json:"dataset"`
	} `json:"data_stream"`
}

func indexName(ds string, t time.Time) string {
	return "logs-" + ds + "-" + t.UTC().Format("2006.01.02")
}

// check compares one document with the line it carries; place is where it
// was found (its index, or its archive date folder as an index name).
func (w want) check(d doc, place string, seen map[int]int) error {
	m := seqRE.FindStringSubmatch(d.Message)
	if m == nil {
		return fmt.Errorf("document without a seq in its message: %+v", d)
	}
	n, _ := strconv.Atoi(m[1])
	seen[n]++
	if seen[n] > 1 {
		return fmt.Errorf("line seq-%d found twice (second in %s)", n, place)
	}
	ts, err := event.ParseTime(d.Timestamp)
	if err != nil {
		return fmt.Errorf("seq-%d: @timestamp %q: %v", n, d.Timestamp, err)
	}
	if tags, bad := w.badTags[n]; bad {
		for _, tag := range tags {
			if !contains(d.Tags, tag) {
				return fmt.Errorf("bad line seq-%d: tags %v, want %v", n, d.Tags, tags)
			}
		}
		if d.DataStream.Dataset != "app.bad" || place != indexName("app.bad", ts) {
			return fmt.Errorf("bad line seq-%d: dataset %s in %s", n, d.DataStream.Dataset, place)
		}
		return nil
	}
	if n >= w.lines {
		return fmt.Errorf("seq-%d was never written (only %d lines)", n, w.lines)
	}
	wantTS, wantDS := w.plan.time(n), w.plan.dataset(n)
	if !ts.Equal(wantTS) {
		return fmt.Errorf("seq-%d (%s): @timestamp %s, want the line's own time %s", n, wantDS, d.Timestamp, event.FormatTime(wantTS))
	}
	if d.DataStream.Dataset != wantDS {
		return fmt.Errorf("seq-%d: dataset %q, want %q", n, d.DataStream.Dataset, wantDS)
	}
	if len(d.Tags) > 0 {
		return fmt.Errorf("seq-%d: unexpected tags %v", n, d.Tags)
	}
	if want := indexName(wantDS, wantTS); place != want {
		return fmt.Errorf("seq-%d: in %s, want %s", n, place, want)
	}
	return nil
}

// perIndex is how many documents each daily index must hold.
func (w want) perIndex() map[string]int {
	out := map[string]int{}
	for n := 0; n < w.lines; n++ {
		out[indexName(w.plan.dataset(n), w.plan.time(n))]++
	}
	return out
}

func contains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// waitExact polls until OpenSearch and the archive each hold exactly
// w.total() events and neither consumer group lags, failing at once if either
// holds more (duplicates), then checks every document. It returns how long
// the wait took.
func (c *cluster) waitExact(t *testing.T, w want, timeout time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	total := int64(w.total())
	var searchN, archiveN int64
	var lags map[string]int64
	lastLog := time.Now()
	err := polltest.Wait(ctx, func() (bool, error) {
		if time.Since(lastLog) >= 15*time.Second {
			lastLog = time.Now()
			t.Logf("waiting for %d: OpenSearch %d, archive %d, lags %v (%s)", total, searchN, archiveN, lags, time.Since(began).Round(time.Second))
		}
		var err error
		if searchN, err = c.count(ctx, "logs-*", ""); err != nil {
			return false, err
		}
		if archiveN, err = c.archiveCount(ctx, w.plan.base); err != nil {
			return false, err
		}
		if searchN > total || archiveN > total {
			return true, nil // fails below, with the details of the scan
		}
		if lags, err = c.lag(ctx, indexerGroup, archiverGroup); err != nil {
			return false, err
		}
		if searchN != total || archiveN != total {
			return false, nil
		}
		return lags[indexerGroup] == 0 && lags[archiverGroup] == 0, nil
	})
	took := time.Since(began)
	if err != nil {
		t.Fatalf("after %s: OpenSearch holds %d documents, the archive %d events, lags %v; want %d and 0: %v",
			took.Round(time.Millisecond), searchN, archiveN, lags, total, err)
	}
	t.Logf("exact after %s: OpenSearch %d documents, archive %d events, consumer lags %v", took.Round(time.Millisecond), searchN, archiveN, lags)
	c.checkSearch(t, w)
	c.checkArchive(t, w)
	return took
}

// count is _count over an index pattern, with an optional query string.
func (c *cluster) count(ctx context.Context, index, q string) (int64, error) {
	u := c.search.URL + "/" + index + "/_count?ignore_unavailable=true&allow_no_indices=true"
	if q != "" {
		u += "&q=" + q
	}
	var res struct {
		Count int64 `json:"count"`
	}
	return res.Count, c.call(ctx, http.MethodGet, u, nil, &res)
}

func (c *cluster) call(ctx context.Context, method, url string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %.300s", method, url, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// checkSearch reads every document of logs-* (scroll) and checks each one;
// then the per-index counts with _count, and the tags of the bad lines.
func (c *cluster) checkSearch(t *testing.T, w want) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	seen := map[int]int{}
	type page struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []struct {
				Index  string `json:"_index"`
				Source doc    `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	var p page
	err := c.call(ctx, http.MethodPost, c.search.URL+"/logs-*/_search?scroll=2m", map[string]any{
		"size": 10000, "sort": []string{"_doc"},
		"_source": []string{"@timestamp", "message", "tags", "data_stream.dataset"},
	}, &p)
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for len(p.Hits.Hits) > 0 {
		for _, h := range p.Hits.Hits {
			if err := w.check(h.Source, h.Index, seen); err != nil && len(errs) < 20 {
				errs = append(errs, err.Error())
			}
		}
		id := p.ScrollID
		p = page{}
		if err := c.call(ctx, http.MethodPost, c.search.URL+"/_search/scroll", map[string]string{"scroll": "2m", "scroll_id": id}, &p); err != nil {
			t.Fatal(err)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("OpenSearch documents:\n%s", strings.Join(errs, "\n"))
	}
	if len(seen) != w.total() {
		t.Fatalf("OpenSearch: %d distinct lines, want %d", len(seen), w.total())
	}
	// Per daily index, by _count.
	perIndex := w.perIndex()
	names := make([]string, 0, len(perIndex))
	for name := range perIndex {
		names = append(names, name)
	}
	sort.Strings(names)
	var summary []string
	for _, name := range names {
		n, err := c.count(ctx, name, "")
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(perIndex[name]) {
			t.Errorf("%s: %d documents, want %d", name, n, perIndex[name])
		}
		summary = append(summary, fmt.Sprintf("%s=%d", name, n))
	}
	// Tags of the bad lines, counted by OpenSearch.
	wantTags := map[string]int{}
	for _, tags := range w.badTags {
		for _, tag := range tags {
			wantTags[tag]++
		}
	}
	for tag, want := range wantTags {
		n, err := c.count(ctx, "logs-*", "tags:"+tag)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(want) {
			t.Errorf("documents tagged %s: %d, want %d", tag, n, want)
		}
		summary = append(summary, fmt.Sprintf("tags:%s=%d", tag, n))
	}
	t.Logf("OpenSearch: every one of %d documents checked (line's own @timestamp, dataset, daily index; no duplicate) in %s; %s",
		len(seen), time.Since(began).Round(time.Millisecond), strings.Join(summary, " "))
}

// archiveObjects lists every published object of the archive whose events
// may be from the day of from until two days from now.
func (c *cluster) archiveObjects(ctx context.Context, from time.Time) (*archive.Store, []archive.Object, error) {
	store, err := archive.Open(ctx, "file://"+c.archiveDir)
	if err != nil {
		return nil, nil, err
	}
	dss, err := store.Datasets(ctx)
	if err != nil || len(dss) == 0 {
		return store, nil, err
	}
	objs, _, err := store.Plan(ctx, dss, archive.Midnight(from), time.Now().UTC().Add(48*time.Hour))
	return store, objs, err
}

// archiveCount sums the events of the archive's manifests.
func (c *cluster) archiveCount(ctx context.Context, from time.Time) (int64, error) {
	store, objs, err := c.archiveObjects(ctx, from)
	if store != nil {
		defer store.Close()
	}
	if err != nil {
		return 0, err
	}
	var n int64
	for _, o := range objs {
		n += o.Events
	}
	return n, nil
}

// checkArchive reads every object and checks every event, and that each
// object sits in the date folder of its events.
func (c *cluster) checkArchive(t *testing.T, w want) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	store, objs, err := c.archiveObjects(ctx, w.plan.base)
	if store != nil {
		defer store.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	perDay := map[string]int{}
	var errs []string
	for _, o := range objs {
		r, err := store.Read(ctx, o.Path())
		if err != nil {
			t.Fatal(err)
		}
		var inObj int64
		for {
			line, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", o.Path(), err)
			}
			inObj++
			var d doc
			if err := json.Unmarshal(line, &d); err != nil {
				t.Fatalf("%s: %v", o.Path(), err)
			}
			// The folder's date, as the daily index name it must match.
			place := indexName(d.DataStream.Dataset, o.Day)
			if err := w.check(d, place, seen); err != nil && len(errs) < 20 {
				errs = append(errs, o.Path()+": "+err.Error())
			}
			perDay[place]++
		}
		r.Close()
		if inObj != o.Events {
			errs = append(errs, fmt.Sprintf("%s: %d events, its manifest says %d", o.Path(), inObj, o.Events))
		}
	}
	if len(errs) > 0 {
		t.Fatalf("archive:\n%s", strings.Join(errs, "\n"))
	}
	if len(seen) != w.total() {
		t.Fatalf("archive: %d distinct lines, want %d", len(seen), w.total())
	}
	for name, want := range w.perIndex() {
		if perDay[name] != want {
			t.Errorf("archive folder of %s: %d events, want %d", name, perDay[name], want)
		}
	}
	t.Logf("archive: every one of %d events in %d objects checked (own @timestamp, dataset, date folder; no duplicate) in %s",
		len(seen), len(objs), time.Since(began).Round(time.Millisecond))
}
