package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
)

// unevenDocs are n events over an hour, in bursts: most in a few minutes,
// a thin trickle elsewhere, so a page's rows sit in few of the range's
// buckets or span many. Event i's host is h<i%7> (i%7 == 0 most often).
func unevenDocs(n int, base time.Time) []index.Doc {
	docs := make([]index.Doc, n)
	for i := range docs {
		at := base.Add(time.Duration(i) * time.Hour / time.Duration(n) / 8) // the first 7.5 minutes
		if i%5 == 0 {
			at = base.Add(time.Duration(i) * time.Hour / time.Duration(n)) // the trickle, over the hour
		}
		at = at.Add(time.Duration(i) * time.Microsecond) // no two at the same time
		d := doc(fmt.Sprintf("u%05d", i), at, "m")
		host := fmt.Sprintf("h%d", i%7)
		if i%3 == 0 {
			host = "h0"
		}
		d.Source = fmt.Appendf(d.Source[:len(d.Source)-1], `,"host":{"name":%q}}`, host)
		d.Fields["host"] = map[string]any{"name": host}
		docs[i] = d
	}
	return docs
}

// loaded is a new index, closed when the test ends.
func loaded(t *testing.T) *embedded.Index {
	t.Helper()
	ix, err := embedded.Open(filepath.Join(t.TempDir(), "ix"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func put(t *testing.T, ix *embedded.Index, docs []index.Doc) {
	t.Helper()
	if err := ix.Put(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func id(t *testing.T, hit []byte) string {
	t.Helper()
	var d struct {
		Event struct{ ID string } `json:"event"`
	}
	if err := json.Unmarshal(hit, &d); err != nil {
		t.Fatal(err)
	}
	return d.Event.ID
}

func TestPagesOverARangeAreTheSortedMatches(t *testing.T) {
	// The page is sorted among the buckets that hold it (Search): every
	// page, newest or oldest first, with or without a histogram, is the
	// slice of all matches sorted independently.
	ctx, ix := context.Background(), loaded(t)
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	docs := unevenDocs(3000, base)
	put(t, ix, docs)
	from, to := base.Add(-time.Minute), base.Add(time.Hour)
	byTime := slices.Clone(docs)
	slices.SortFunc(byTime, func(a, b index.Doc) int { return a.Time.Compare(b.Time) })
	for _, oldest := range []bool{false, true} {
		for _, hist := range []bool{false, true} {
			for _, offset := range []int{0, 40, 599, 2990, 3000} {
				r := index.Request{From: from, To: to, Offset: offset, Size: 50, Oldest: oldest}
				if hist {
					r.Buckets = index.Buckets(from, to, 0, 60, 500)
				}
				res, err := ix.Search(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for i := range min(50, max(0, len(docs)-offset)) {
					k := offset + i
					if !oldest {
						k = len(docs) - 1 - k
					}
					want = append(want, byTime[k].ID)
				}
				var got []string
				for _, h := range res.Hits {
					got = append(got, id(t, h))
				}
				if res.Total != 3000 || !slices.Equal(got, want) {
					t.Fatalf("oldest %v, histogram %v, offset %d: total %d, page %v, want %v", oldest, hist, offset, res.Total, got, want)
				}
			}
		}
	}
}

func TestTopValuesOverASample(t *testing.T) {
	ctx, ix := context.Background(), loaded(t)
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	docs := unevenDocs(6000, base)
	put(t, ix, docs)
	exact := map[string]int64{}
	for _, d := range docs {
		exact[d.Fields["host"].(map[string]any)["name"].(string)]++
	}
	r := index.Request{From: base, To: base.Add(time.Hour), Top: []string{"host.name"}, TopSize: 7}
	// At most TopSample matches, or none asked: every match is counted.
	for _, sample := range []int{0, 6000} {
		r.TopSample = sample
		res, err := ix.Search(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if res.TopSample != 0 || len(res.Top["host.name"]) != 7 {
			t.Fatalf("TopSample %d: sampled %d, top %+v", sample, res.TopSample, res.Top)
		}
		for _, vc := range res.Top["host.name"] {
			if vc.Count != exact[vc.Value] {
				t.Fatalf("TopSample %d: %s counted %d, exactly %d", sample, vc.Value, vc.Count, exact[vc.Value])
			}
		}
	}
	// More matches: about TopSample of them, spread over the buckets, the
	// counts scaled to the total (estimates within 15% here), h0 first.
	r.TopSample = 1200
	res, err := ix.Search(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if res.TopSample < 800 || res.TopSample > 1600 || res.Total != 6000 {
		t.Fatalf("sampled %d of %d, want about 1200 of 6000", res.TopSample, res.Total)
	}
	top := res.Top["host.name"]
	if len(top) != 7 || top[0].Value != "h0" {
		t.Fatalf("top %+v, want the 7 hosts, h0 first", top)
	}
	for _, vc := range top {
		if e := float64(exact[vc.Value]); math.Abs(float64(vc.Count)-e) > 0.15*e {
			t.Fatalf("%s estimated %d, exactly %v", vc.Value, vc.Count, e)
		}
	}
}
