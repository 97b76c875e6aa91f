package archive

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "gocloud.dev/blob/fileblob"
)

func open(t testing.TB) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "archive") // Open creates it
	s, err := Open(context.Background(), "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func date(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func docs(n int, start time.Time, step time.Duration) []Doc {
	out := make([]Doc, n)
	for i := range out {
		ts := start.Add(time.Duration(i) * step)
		out[i] = Doc{Time: ts, JSON: fmt.Appendf(nil, `{"@timestamp":%q,"message":"line %d"}`, ts.Format(time.RFC3339Nano), i)}
	}
	return out
}

func readAll(t *testing.T, s *Store, path string) []string {
	t.Helper()
	r, err := s.Read(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for {
		b, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
}

func TestKeyPathAndParse(t *testing.T) {
	k := Key{Dataset: "nginx.access", Day: date(2015, 10, 21, 0), Topic: "logs.nginx-access", Partition: 3, FirstOffset: 100, LastOffset: 199}
	const want = "nginx.access/2015/10/21/logs.nginx-access-3-100-199.ndjson.gz"
	if k.Path() != want {
		t.Fatalf("Path = %q, want %q", k.Path(), want)
	}
	if k.ManifestPath() != "nginx.access/2015/10/21/logs.nginx-access-3-100-199.manifest.json" {
		t.Fatalf("ManifestPath = %q", k.ManifestPath())
	}
	got, err := ParseKey(want)
	if err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("ParseKey = %+v, %v; want %+v", got, err, k)
	}
	for _, bad := range []string{
		"nginx.access/2015/10/21/logs-3-100.ndjson.gz",
		"nginx.access/2015/13/21/logs-3-100-199.ndjson.gz",
		"nginx.access/2015/10/21/logs-3-200-199.ndjson.gz",
		"nginx.access/2015/10/21/-3-100-199.ndjson.gz",
		"nginx.access/2015/10/21/logs-3-0100-199.ndjson.gz",
		"nginx.access/2015/10/21/logs-3-100-199.manifest.json",
		"a/b/nginx.access/2015/10/21/logs-3-100-199.ndjson.gz",
	} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestFolderKeepsDatasetsInside(t *testing.T) {
	for in, want := range map[string]string{
		"nginx.access": "nginx.access",
		"":             "unknown",
		"../etc":       "x.._etc",
		"_journal":     "x_journal",
		"a/b c":        "a_b_c",
	} {
		if got := Folder(in); got != want {
			t.Errorf("Folder(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteDayPlanRead(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t)
	d1, d2 := date(2015, 10, 21, 0), date(2015, 10, 22, 0)
	write := func(ds string, d time.Time, first int64, dd []Doc) Object {
		k := Key{Dataset: ds, Day: d, Topic: "logs." + ds, Partition: 0, FirstOffset: first, LastOffset: first + int64(len(dd)) - 1}
		o, err := s.Write(ctx, k, dd)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	a := write("web", d1, 0, docs(10, d1.Add(time.Hour), time.Minute))    // 01:00..01:09
	b := write("web", d1, 10, docs(5, d1.Add(20*time.Hour), time.Minute)) // 20:00..20:04
	c := write("web", d2, 15, docs(7, d2.Add(2*time.Hour), time.Minute))  // next day
	write("db", d1, 0, docs(3, d1.Add(time.Hour), time.Second))           // other dataset
	if a.Events != 10 || a.MinTime != d1.Add(time.Hour) || a.MaxTime != d1.Add(time.Hour+9*time.Minute) {
		t.Fatalf("object a = %+v", a)
	}
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(a.Path())))
	if err != nil || fi.Size() != a.Bytes {
		t.Fatalf("object a on disk: %v, size %v, manifest says %d", err, fi, a.Bytes)
	}

	day, err := s.Day(ctx, "web", d1.Add(13*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(day) != 2 || day[0].Path() != a.Path() || day[1].Path() != b.Path() || day[0].Events+day[1].Events != 15 {
		t.Fatalf("day 1 = %+v", day)
	}
	if !day[0].Written.Equal(a.Written) || day[0].RawBytes != a.RawBytes {
		t.Fatalf("manifest read back %+v, written %+v", day[0], a)
	}

	// 19:00 on day 1 to 03:00 on day 2: object a lies before the range.
	plan, est, err := s.Plan(ctx, []string{"web"}, d1.Add(19*time.Hour), d2.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 2 || plan[0].Path() != b.Path() || plan[1].Path() != c.Path() {
		t.Fatalf("plan = %+v", plan)
	}
	if est != (Estimate{Objects: 2, Bytes: b.Bytes + c.Bytes, RawBytes: b.RawBytes + c.RawBytes, Events: 12}) {
		t.Fatalf("estimate = %+v", est)
	}
	if _, _, err := s.Plan(ctx, []string{"web"}, d2, d1); err == nil {
		t.Fatal("plan of an empty range accepted")
	}

	got := readAll(t, s, c.Path())
	want := docs(7, d2.Add(2*time.Hour), time.Minute)
	if len(got) != len(want) {
		t.Fatalf("read %d docs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != string(want[i].JSON) {
			t.Fatalf("doc %d = %s, want %s", i, got[i], want[i].JSON)
		}
	}

	ds, err := s.Datasets(ctx)
	if err != nil || !reflect.DeepEqual(ds, []string{"db", "web"}) {
		t.Fatalf("Datasets = %v, %v", ds, err)
	}
}

func TestDocsAreOneLineEach(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	k := Key{Dataset: "web", Day: date(2020, 1, 1, 0), Topic: "t", FirstOffset: 0, LastOffset: 2}
	long := `{"message":"` + strings.Repeat("x", 200<<10) + `"}`
	o, err := s.Write(ctx, k, []Doc{
		{JSON: []byte("{\n  \"message\": \"pretty\"\n}")},
		{JSON: []byte(long)},
		{JSON: []byte("not\njson")},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s, o.Path())
	want := []string{`{"message":"pretty"}`, long, "not json"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %.80q", got)
	}
}

func TestObjectWithoutManifestIsInvisible(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	k := Key{Dataset: "web", Day: date(2020, 1, 1, 0), Topic: "t", FirstOffset: 0, LastOffset: 0}
	if _, _, err := s.writeData(ctx, k.Path(), docs(1, k.Day, 0)); err != nil {
		t.Fatal(err)
	}
	day, err := s.Day(ctx, "web", k.Day)
	if err != nil || len(day) != 0 {
		t.Fatalf("Day = %+v, %v; want nothing published", day, err)
	}
}

func TestWriteAbandonedOnCancel(t *testing.T) {
	s, _ := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := Key{Dataset: "web", Day: date(2020, 1, 1, 0), Topic: "t", FirstOffset: 0, LastOffset: 0}
	if _, err := s.Write(ctx, k, docs(1, k.Day, 0)); err == nil {
		t.Fatal("write with a cancelled context succeeded")
	}
	if ok, _ := s.bucket.Exists(context.Background(), k.Path()); ok {
		t.Fatal("abandoned object was published")
	}
}

func TestRecover(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	d := date(2020, 1, 1, 0)
	flush := func(first, last int64, end bool) Intent {
		in := Intent{Topic: "logs.web", Partition: 2, FirstOffset: first, LastOffset: last}
		for _, dd := range []time.Time{d, d.Add(day)} {
			in.Objects = append(in.Objects, Key{Dataset: "web", Day: dd, Topic: in.Topic, Partition: 2, FirstOffset: first, LastOffset: last})
		}
		if err := s.BeginFlush(ctx, in); err != nil {
			t.Fatal(err)
		}
		// Only the first object makes it: a crash in the middle of a flush.
		if _, err := s.Write(ctx, in.Objects[0], docs(int(last-first+1), d, time.Second)); err != nil {
			t.Fatal(err)
		}
		if end {
			if err := s.EndFlush(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		return in
	}
	committed := flush(0, 9, true)
	committedNotForgotten := flush(10, 19, false) // crash after the commit, before EndFlush
	uncommitted := flush(20, 29, false)

	removed, err := s.Recover(ctx, "logs.web", 2, 20)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, uncommitted.Objects) {
		t.Fatalf("removed %+v, want %+v", removed, uncommitted.Objects)
	}
	day, err := s.Day(ctx, "web", d)
	if err != nil {
		t.Fatal(err)
	}
	if len(day) != 2 || day[0].Key != committed.Objects[0] || day[1].Key != committedNotForgotten.Objects[0] {
		t.Fatalf("day after recovery = %+v", day)
	}
	if ok, _ := s.bucket.Exists(ctx, uncommitted.Objects[0].Path()); ok {
		t.Fatal("uncommitted data object left behind")
	}
	// The journal is settled: nothing left to recover.
	if removed, err := s.Recover(ctx, "logs.web", 2, 0); err != nil || len(removed) != 0 {
		t.Fatalf("second Recover removed %v, %v", removed, err)
	}
}

func TestOpenBadURL(t *testing.T) {
	if _, err := Open(context.Background(), "nosuch://bucket?secret=x"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open = %v; want an error without the query", err)
	}
}

// Writes must not go through os.TempDir: in a container it is usually another
// file system than the archive's volume or mount, and the final rename then
// fails with "invalid cross-device link" (seen in e2e/pipeline, where the
// archive is a bind mount). A TMPDIR that does not exist stands in for it.
func TestWriteDoesNotUseTempDir(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "elsewhere"))
	s, dir := open(t)
	k := Key{Dataset: "app", Day: date(2024, 3, 1, 0), Topic: "logs.app", Partition: 0, FirstOffset: 0, LastOffset: 9}
	if _, err := s.Write(context.Background(), k, docs(10, date(2024, 3, 1, 1), time.Minute)); err != nil {
		t.Fatalf("write with TMPDIR elsewhere: %v", err)
	}
	if got := readAll(t, s, k.Path()); len(got) != 10 {
		t.Fatalf("read back %d documents, want 10", len(got))
	}
	if err := s.BeginFlush(context.Background(), Intent{Topic: "logs.app", Partition: 0, FirstOffset: 0, LastOffset: 9, Objects: []Key{k}}); err != nil {
		t.Fatalf("journal with TMPDIR elsewhere: %v", err)
	}
	// No temporary file is left beside the objects.
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tmp") {
			t.Errorf("temporary file left: %s", path)
		}
		return nil
	})
}
