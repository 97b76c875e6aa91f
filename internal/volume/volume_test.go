package volume

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// demo is the all-in-one demo's steady traffic on a simulated clock: every
// second 5-14 nginx and app lines and 0-1 syslog lines, from host web-1.
type demo struct {
	t       *testing.T
	d       *Detector
	now     time.Time
	rng     *rand.Rand
	stopped map[string]bool
	burst   map[string]int // dataset -> factor
	began   []Anomaly
	// lag: each event is timed up to lag before the tick that counts it
	// (the demo times a second's lines over the second before it writes
	// them, and the pipeline takes a while); 0 times them at the tick.
	lag time.Duration
	// sent records what was observed, for a restarted detector to read again.
	sent []observed
}

type observed struct {
	dataset, service string
	t                time.Time
	n                int64
}

func newDemo(t *testing.T, reg prometheus.Registerer) *demo {
	d, err := New(Config{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &demo{t: t, d: d, now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), rng: rand.New(rand.NewPCG(1, 2)),
		stopped: map[string]bool{}, burst: map[string]int{}}
}

// run advances the clock by dur, a second at a time, ticking every second.
func (m *demo) run(dur time.Duration) {
	for end := m.now.Add(dur); m.now.Before(end); m.now = m.now.Add(time.Second) {
		for _, ds := range []string{"nginx.access", "app", "syslog"} {
			n := 5 + m.rng.IntN(10)
			if ds == "syslog" {
				n = m.rng.IntN(2)
			}
			if f := m.burst[ds]; f > 0 {
				n *= f
			}
			if !m.stopped[ds] && n > 0 {
				service := map[string]string{"app": "api"}[ds]
				if m.lag == 0 {
					m.observe(observed{ds, service, m.now, int64(n)})
					continue
				}
				for range n {
					m.observe(observed{ds, service, m.now.Add(-time.Duration(m.rng.Int64N(int64(m.lag)))), 1})
				}
			}
		}
		m.began = append(m.began, m.d.Tick(m.now)...)
	}
}

func (m *demo) observe(o observed) {
	m.d.Observe(o.dataset, o.service, "web-1", o.t, o.n)
	m.sent = append(m.sent, o)
}

// history is the all-in-one demo's: days of 400 lines a day per dataset,
// read from the inbox at start before the live traffic.
func (m *demo) history(days int) {
	for day := days; day >= 1; day-- {
		start := m.now.Add(-time.Duration(day) * 24 * time.Hour)
		for _, ds := range []string{"nginx.access", "app", "syslog"} {
			service := map[string]string{"app": "api"}[ds]
			for i := range 400 {
				m.observe(observed{ds, service, start.Add(time.Duration(i) * 24 * time.Hour / 400), 1})
			}
		}
	}
}

// judged is how many series have a baseline (are judged).
func (m *demo) judged() int {
	n := 0
	for _, s := range m.d.Snapshot(Filter{Buckets: 1, Breakdown: true}).Series {
		if s.Expected > 0 {
			n++
		}
	}
	return n
}

// until runs a second at a time until an anomaly of kind in dataset (no
// service or host) begins, at most limit; it returns how long after start
// it began, or limit.
func (m *demo) until(kind Kind, dataset string, start time.Time, limit time.Duration) time.Duration {
	for m.now.Before(start.Add(limit)) {
		m.began = nil
		m.run(time.Second)
		for _, a := range m.began {
			if a.Kind == kind && a.Dataset == dataset && a.Service == "" && a.Host == "" {
				return m.now.Sub(start)
			}
		}
	}
	return limit
}

func TestDemoHourHasNoFalseAnomalyAndStillDetects(t *testing.T) {
	// An hour of the all-in-one demo's live traffic, each line timed up to
	// 5 s before it is counted; with and without the week of sparse history
	// the demo writes at its first start (read before the live traffic).
	for _, history := range []bool{false, true} {
		m := newDemo(t, nil)
		m.lag = 5 * time.Second
		if history {
			m.history(7)
		}
		m.run(time.Hour)
		if len(m.began) != 0 || len(m.d.Active()) != 0 {
			t.Fatalf("history %v: %d anomalies in an hour of the demo's traffic: %+v", history, len(m.began), m.began)
		}
		// nginx.access, app, its service api and host web-1 are judged
		// (syslog's 0-1 a second is below MinExpected): the hour was judged.
		if n := m.judged(); n < 4 {
			t.Fatalf("history %v: %d series judged after an hour, want at least 4", history, n)
		}
		// The same feed still detects a tenfold burst within 2 buckets.
		m.run(time.Minute - m.now.Sub(m.now.Truncate(time.Minute))) // to a bucket boundary
		burst := m.now
		m.burst["nginx.access"] = 10
		if d := m.until(Spike, "nginx.access", burst, 3*time.Minute); d > 2*time.Minute {
			t.Fatalf("history %v: the 10x burst of nginx.access showed %v after its bucket began, want ≤ 2 buckets", history, d)
		}
		m.burst["nginx.access"] = 0
		m.run(10 * time.Minute)
		if history {
			// A drop is zero where both baselines expect events: the
			// history's same minutes of previous days held 0 or 1 line, so
			// a stopped writer is no drop until the history's week is over.
			continue
		}
		m.run(time.Minute - m.now.Sub(m.now.Truncate(time.Minute)))
		stop := m.now
		m.stopped["app"] = true
		if d := m.until(Drop, "app", stop, 3*time.Minute); d > 2*time.Minute {
			t.Fatalf("the drop of app showed %v after its writer stopped, want ≤ 2 buckets", d)
		}
	}
}

func TestRestartedWatchReadsItsHistoryAgain(t *testing.T) {
	// A watch restarted after two hours, its feed reading the last hour
	// again (Resume): no anomaly at or after the restart, a baseline at
	// once, and a drop right after the restart is detected in time; without
	// Resume the same restart would learn for Warmup buckets first.
	before := newDemo(t, nil)
	before.lag = 5 * time.Second
	before.run(2*time.Hour + 17*time.Second)
	restart := before.now

	for _, resume := range []bool{true, false} {
		m := newDemo(t, nil)
		m.lag, m.now, m.rng = before.lag, restart, rand.New(rand.NewPCG(3, 4))
		since := restart.Add(-time.Hour)
		if resume {
			m.d.Resume(since)
		}
		for _, o := range before.sent { // the records since then, in order
			if !o.t.Before(since) {
				m.d.Observe(o.dataset, o.service, "web-1", o.t, o.n)
			}
		}
		m.run(time.Second)
		if resume && m.judged() < 4 {
			t.Fatalf("right after the restart %d series are judged, want the 4 steady ones", m.judged())
		}
		m.run(30 * time.Second)
		if len(m.began) != 0 {
			t.Fatalf("resume %v: anomalies at the restart: %+v", resume, m.began)
		}
		m.run(time.Minute - m.now.Sub(m.now.Truncate(time.Minute)))
		stop := m.now
		m.stopped["app"] = true
		d := m.until(Drop, "app", stop, 4*time.Minute)
		switch {
		case resume && d > 2*time.Minute:
			t.Fatalf("after a restart with its history the drop showed %v after the stop, want ≤ 2 buckets", d)
		case !resume && d <= 2*time.Minute:
			t.Fatalf("without its history a restarted watch judged within %v: the test would not tell Resume apart", d)
		}
		m.stopped["app"] = false
		m.run(30 * time.Minute)
		for _, a := range m.began {
			if a.Dataset != "app" {
				t.Fatalf("resume %v: anomaly of %+v, which never stopped", resume, a)
			}
		}
	}
}

func TestSteadyTrafficHasNoAnomaly(t *testing.T) {
	// Two days: the second is judged against the first's same buckets too.
	m := newDemo(t, nil)
	m.run(48 * time.Hour)
	if len(m.began) != 0 || len(m.d.Active()) != 0 {
		t.Fatalf("%d anomalies in two days of steady traffic: %+v", len(m.began), m.began)
	}
}

func TestStoppedDatasetIsADropWithinTwoBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newDemo(t, reg)
	m.run(30 * time.Minute)
	stop := m.now
	m.stopped["app"] = true
	m.run(2 * time.Minute)
	var drop, silence bool
	for _, a := range m.d.Active() {
		if a.Dataset != "app" {
			t.Fatalf("anomaly of %+v, which did not stop", a.Key)
		}
		drop = drop || a.Kind == Drop && a.Host == ""
		silence = silence || a.Kind == Silence && a.Host == "web-1"
		if a.Bucket.Before(stop.Truncate(time.Minute)) {
			t.Fatalf("anomaly %+v starts before the stop at %s", a, stop)
		}
	}
	if !drop || !silence {
		t.Fatalf("2 buckets after app stopped: active %+v, want a drop of app and the silence of web-1 in it", m.d.Active())
	}
	if n := testutil.ToFloat64(m.d.active.WithLabelValues("app", "", "", "drop")); n != 1 {
		t.Fatalf("hindsight_volume_anomaly{dataset=app,kind=drop} = %v", n)
	}
	// It resumes: the anomaly ends and the metric goes.
	m.stopped["app"] = false
	m.run(3 * time.Minute)
	if a := m.d.Active(); len(a) != 0 {
		t.Fatalf("after app resumed: %+v", a)
	}
	if n := testutil.CollectAndCount(m.d.active); n != 0 {
		t.Fatalf("%d anomaly gauges outlived the drop", n)
	}
	if n, err := testutil.GatherAndCount(reg, "hindsight_volume_anomaly"); err != nil || n != 0 {
		t.Fatalf("hindsight_volume_anomaly has %d series after the drop (%v)", n, err)
	}
	// app and its service api dropped, its host web-1 went silent.
	if n, k := testutil.ToFloat64(m.d.total.WithLabelValues("drop")), testutil.ToFloat64(m.d.total.WithLabelValues("silence")); n != 2 || k != 1 {
		t.Fatalf("hindsight_volume_anomalies_total: %v drops and %v silences, want 2 and 1", n, k)
	}
}

func TestTenfoldBurstIsASpike(t *testing.T) {
	m := newDemo(t, nil)
	m.run(30 * time.Minute)
	m.burst["nginx.access"] = 10
	m.run(2 * time.Minute)
	var spike bool
	for _, a := range m.began {
		spike = spike || a.Kind == Spike && a.Dataset == "nginx.access" && a.Host == ""
	}
	if !spike {
		t.Fatalf("no spike 2 buckets into a 10x burst: %+v", m.began)
	}
	// One burst does not teach the baseline: the same burst again is still a spike.
	m.burst["nginx.access"] = 0
	m.run(5 * time.Minute)
	m.began = nil
	m.burst["nginx.access"] = 10
	m.run(2 * time.Minute)
	if len(m.began) == 0 {
		t.Fatal("a second burst after the first is no spike")
	}
}

func TestSameHourOfPreviousDaysIsTheBaseline(t *testing.T) {
	d, _ := New(Config{Warmup: 1}, nil)
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	// Three days of 10 events a minute, and 100 at 10:00-10:04 every day:
	// a spike on the first day, expected on the next.
	spikes := map[int]int{}
	for i := range 3 * 24 * 60 {
		at := day.Add(time.Duration(i) * time.Minute)
		n := int64(10)
		if at.Hour() == 10 && at.Minute() < 5 {
			n = 100
		}
		d.Observe("app", "", "", at, n)
		for _, a := range d.Tick(at.Add(time.Minute)) {
			if a.Kind != Spike {
				t.Fatalf("%+v", a)
			}
			spikes[a.Bucket.Day()]++
		}
	}
	if spikes[1] != 1 || spikes[2]+spikes[3] != 0 {
		t.Fatalf("spikes by day %v, want one on the first day only", spikes)
	}
}

func TestDetectionDelayIsAtMostTwoBuckets(t *testing.T) {
	// However the stop falls in a bucket, the first empty bucket is judged
	// 1.5 buckets after it begins.
	for _, phase := range []time.Duration{0, 20 * time.Second, 59 * time.Second} {
		m := newDemo(t, nil)
		m.run(30*time.Minute + phase)
		m.stopped["app"] = true
		firstEmpty := m.now.Add(time.Minute - time.Second).Truncate(time.Minute)
		m.began = nil
		for len(m.began) == 0 && m.now.Before(firstEmpty.Add(3*time.Minute)) {
			m.run(time.Second)
		}
		if len(m.began) == 0 {
			t.Fatalf("phase %v: no anomaly 3 buckets after the stop", phase)
		}
		if delay := m.now.Sub(firstEmpty); delay > 2*time.Minute {
			t.Fatalf("phase %v: the drop showed %v after the first empty bucket began, want ≤ 2 buckets", phase, delay)
		}
		if m.began[0].Bucket != firstEmpty {
			t.Fatalf("phase %v: the drop starts at %s, want the first empty bucket %s", phase, m.began[0].Bucket, firstEmpty)
		}
	}
}

func TestSnapshotMarksTheAnomalies(t *testing.T) {
	m := newDemo(t, nil)
	m.run(30 * time.Minute)
	stop := m.now
	m.stopped["app"] = true
	m.run(3 * time.Minute)
	resume := m.now
	m.stopped["app"] = false
	m.run(5 * time.Minute)

	snap := m.d.Snapshot(Filter{Buckets: 20})
	if snap.Bucket != time.Minute || len(snap.Series) != 3 {
		t.Fatalf("snapshot: bucket %v, %d series (want the 3 datasets only)", snap.Bucket, len(snap.Series))
	}
	for _, s := range snap.Series {
		if len(s.Counts) != 20 {
			t.Fatalf("%+v: %d counts", s.Key, len(s.Counts))
		}
		if s.Dataset != "app" {
			if len(s.Anomalies) != 0 {
				t.Fatalf("%s: %+v", s.Dataset, s.Anomalies)
			}
			continue
		}
		if len(s.Anomalies) != 1 {
			t.Fatalf("app: anomalies %+v, want the one drop", s.Anomalies)
		}
		a := s.Anomalies[0]
		if a.Kind != Drop || !a.Bucket.Equal(stop) || !a.End.Equal(resume) {
			t.Fatalf("app's drop %+v, want from %s to %s", a, stop, resume)
		}
		for i, c := range s.Counts {
			at := snap.Start.Add(time.Duration(i) * time.Minute)
			if empty := !at.Before(stop) && at.Before(resume); empty != (c == 0) {
				t.Fatalf("app's bucket %s holds %d", at, c)
			}
		}
		if s.Expected < 300 || s.Expected > 800 {
			t.Fatalf("app expects %v a minute, want the demo's 5-14 a second", s.Expected)
		}
	}
	all := m.d.Snapshot(Filter{Dataset: "app", Breakdown: true, Buckets: 5})
	var keys []Key
	for _, s := range all.Series {
		keys = append(keys, s.Key)
	}
	want := []Key{{Dataset: "app"}, {Dataset: "app", Host: "web-1"}, {Dataset: "app", Service: "api"}}
	if len(keys) != 3 || keys[0] != want[0] || keys[1] != want[1] || keys[2] != want[2] {
		t.Fatalf("app's series with breakdown %+v, want %+v", keys, want)
	}
	if s := (&Detector{}).Snapshot(Filter{Buckets: 5}); len(s.Series) != 0 {
		t.Fatal("a detector never ticked has series")
	}
}

func TestLongDropBecomesTheNewNormal(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newDemo(t, reg)
	m.run(30 * time.Minute)
	m.stopped["app"] = true
	m.run(62 * time.Minute)
	if a := m.d.Active(); len(a) != 0 {
		t.Fatalf("an hour after app stopped, still %+v", a)
	}
	// Back after the hour: no spike either (its baseline is nothing).
	m.began = nil
	m.stopped["app"] = false
	m.run(10 * time.Minute)
	if len(m.began) != 0 {
		t.Fatalf("app back after an hour: %+v", m.began)
	}
	if n, err := testutil.GatherAndCount(reg, "hindsight_volume_anomaly"); err != nil || n != 0 {
		t.Fatalf("hindsight_volume_anomaly has %d series after the drop became normal (%v)", n, err)
	}
}

func TestGoneSeriesAreForgotten(t *testing.T) {
	d, _ := New(Config{Bucket: time.Minute, Days: 1, Recent: 10, Warmup: 1}, nil)
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	d.Tick(t0)
	for i := range 20 {
		at := t0.Add(time.Duration(i) * time.Minute)
		d.Observe("app", "", "gone-1", at, 10)
		d.Tick(at)
	}
	d.Tick(t0.Add(26 * time.Hour))
	if n := len(d.Snapshot(Filter{Buckets: 1, Breakdown: true}).Series); n != 0 {
		t.Fatalf("%d series a day after their last event", n)
	}
	d.Observe("app", "", "", t0.Add(50*time.Hour), 1) // more than a day ahead
	d.Observe("app", "", "", t0, 1)                   // behind every baseline
	if n := testutil.ToFloat64(d.outOfRange); n != 2 {
		t.Fatalf("out of range events %v, want 2", n)
	}
}

func TestRecentBaselineStartsWithTheWatch(t *testing.T) {
	// Yesterday's sparse history arrives first (as the all-in-one demo's
	// does): the buckets between its events, before the watch began, are
	// not zeros of the recent baseline.
	m := newDemo(t, nil)
	for h := range 24 {
		m.d.Observe("app", "api", "web-1", m.now.Add(-time.Duration(h+1)*time.Hour), 1)
	}
	m.run(15 * time.Minute)
	for _, s := range m.d.Snapshot(Filter{Dataset: "app", Buckets: 1}).Series {
		if s.Expected < 300 {
			t.Fatalf("app expects %v a minute after 15 minutes of 5-14 a second", s.Expected)
		}
	}
}
