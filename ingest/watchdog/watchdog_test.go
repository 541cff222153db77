package watchdog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

// recorder is the Deliverer of these tests.
type recorder = trailtest.Recorder

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// testBucket is the trail bucket of the test objects.
const testBucket = "trail-bucket"

func keyOf(p Pair, at time.Time) string {
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_x.json.gz", p.Account, p.Region,
		at.Format("2006/01/02"), p.Account, p.Region, at.Format("20060102T1504Z"))
}

// summary is "alert ACCT:REGION" or "clear ACCT:REGION" for a delivered
// detection.
func summary(d detector.Detection) string {
	what := "alert"
	if d.Resolved {
		what = "clear"
	}
	region := d.Region
	if region == "" {
		region = AnyRegion
	}
	return what + " " + d.AccountID + ":" + region
}

var (
	a1 = Pair{"111122223333", "us-east-1"}
	a2 = Pair{"111122223333", "eu-west-1"}
	b1 = Pair{"444455556666", "us-west-2"}
)

// TestWatchdogStateMachine drives the watchdog with a fake clock: objects
// read at given times, checks, and the alerts and all-clears each check
// delivers (StaleAfter 10m, ExpectWindow 1h).
func TestWatchdogStateMachine(t *testing.T) {
	type step struct {
		at    time.Duration // since t0
		read  []Pair        // objects read at this time
		fail  bool          // the Deliverer fails during this step's check
		check bool
		want  []string // deliveries by this check
	}
	tests := []struct {
		name   string
		expect string
		steps  []step
	}{
		{
			name: "learned pair goes quiet: one alert, then the all-clear",
			steps: []step{
				{at: 0, read: []Pair{a1}, check: true},
				{at: 5 * time.Minute, read: []Pair{a1}, check: true},
				{at: 14 * time.Minute, check: true},
				{at: 15 * time.Minute, check: true, want: []string{"alert " + a1.String()}},
				{at: 16 * time.Minute, check: true},
				{at: 40 * time.Minute, check: true},
				{at: 41 * time.Minute, read: []Pair{a1}, check: true, want: []string{"clear " + a1.String()}},
				{at: 45 * time.Minute, read: []Pair{a1}, check: true},
			},
		},
		{
			name: "a pair that keeps sending never alerts; an unseen one is not expected",
			steps: []step{
				{at: 0, read: []Pair{a1}, check: true},
				{at: 5 * time.Minute, read: []Pair{a1}, check: true},
				{at: 10 * time.Minute, read: []Pair{a1}, check: true},
				{at: 15 * time.Minute, read: []Pair{a1}, check: true},
			},
		},
		{
			name:   "explicit pair that never sent alerts StaleAfter after the start",
			expect: "444455556666:us-west-2",
			steps: []step{
				{at: 9 * time.Minute, check: true},
				{at: 10 * time.Minute, check: true, want: []string{"alert " + b1.String()}},
				{at: 11 * time.Minute, check: true},
				{at: 12 * time.Minute, read: []Pair{b1}, check: true, want: []string{"clear " + b1.String()}},
			},
		},
		{
			name: "learned pair quiet past the expect window: the open gap stays, no all-clear",
			steps: []step{
				{at: 0, read: []Pair{a1}, check: true},
				{at: 10 * time.Minute, check: true, want: []string{"alert " + a1.String()}},
				{at: 2 * time.Hour, check: true},
				{at: 3 * time.Hour, read: []Pair{a1}, check: true, want: []string{"clear " + a1.String()}},
			},
		},
		{
			name: "a failed delivery is retried at the next check, as the same episode",
			steps: []step{
				{at: 0, read: []Pair{a1}, check: true},
				{at: 10 * time.Minute, fail: true, check: true},
				{at: 11 * time.Minute, check: true, want: []string{"alert " + a1.String()}},
				{at: 12 * time.Minute, check: true},
			},
		},
		{
			name: "logs resume before the alert was delivered: nothing to resolve",
			steps: []step{
				{at: 0, read: []Pair{a1}, check: true},
				{at: 10 * time.Minute, fail: true, check: true},
				{at: 11 * time.Minute, read: []Pair{a1}, check: true},
				{at: 12 * time.Minute, check: true},
			},
		},
		{
			name: "two pairs, two gaps",
			steps: []step{
				{at: 0, read: []Pair{a1, a2}, check: true},
				{at: 6 * time.Minute, read: []Pair{a2}, check: true},
				{at: 10 * time.Minute, check: true, want: []string{"alert " + a1.String()}},
				{at: 16 * time.Minute, check: true, want: []string{"alert " + a2.String()}},
			},
		},
		{
			name:   "account-wide expectation: alert while the account sends nothing, clear on its first object",
			expect: "444455556666:*",
			steps: []step{
				{at: 10 * time.Minute, check: true, want: []string{"alert 444455556666:*"}},
				{at: 11 * time.Minute, check: true},
				{at: 12 * time.Minute, read: []Pair{b1}, check: true, want: []string{"clear 444455556666:*"}},
				{at: 21 * time.Minute, check: true},
				{at: 22 * time.Minute, check: true, want: []string{"alert " + b1.String()}},
			},
		},
		{
			name:   "a gap of a second gap is a new episode",
			expect: "111122223333:us-east-1",
			steps: []step{
				{at: 0, read: []Pair{a1}, check: true},
				{at: 10 * time.Minute, check: true, want: []string{"alert " + a1.String()}},
				{at: 11 * time.Minute, read: []Pair{a1}, check: true, want: []string{"clear " + a1.String()}},
				{at: 21 * time.Minute, check: true, want: []string{"alert " + a1.String()}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, err := ParseExpect(tt.expect)
			if err != nil {
				t.Fatal(err)
			}
			c := &clock{t: t0}
			rec := &recorder{}
			w, err := New(Config{StaleAfter: 10 * time.Minute, ExpectWindow: time.Hour, Expect: exp, Deliverer: rec, Now: c.now})
			if err != nil {
				t.Fatal(err)
			}
			episodes := map[string]string{} // pair -> open episode
			for i, s := range tt.steps {
				at := t0.Add(s.at)
				c.set(at)
				for _, p := range s.read {
					w.ObjectRead(testBucket, p.Account, p.Region, keyOf(p, at), at.Add(-3*time.Minute))
				}
				rec.SetFail(s.fail)
				if s.check {
					w.Check(t.Context())
				}
				var got []string
				for _, d := range rec.Take() {
					got = append(got, summary(d))
					if d.Rule != RuleLogGap || d.Level != detector.LevelHigh || !d.IsPipeline() {
						t.Errorf("step %d: detection %+v is not a high %s pipeline alert", i, d, RuleLogGap)
					}
					pk := strings.TrimPrefix(strings.TrimPrefix(summary(d), "alert "), "clear ")
					if d.Resolved {
						if episodes[pk] != d.EventID {
							t.Errorf("step %d: all-clear of episode %q, open episode %q", i, d.EventID, episodes[pk])
						}
						delete(episodes, pk)
					} else {
						if prev := episodes[pk]; prev != "" {
							t.Errorf("step %d: second alert %q while %q is open", i, d.EventID, prev)
						}
						episodes[pk] = d.EventID
					}
				}
				if strings.Join(got, ",") != strings.Join(s.want, ",") {
					t.Errorf("step %d (at %s): delivered %q, want %q", i, s.at, got, s.want)
				}
			}
		})
	}
}

// TestGapDetection: the alert names the account, region, last object and
// since when; the all-clear has the same event id.
func TestGapDetection(t *testing.T) {
	key := keyOf(a1, t0)
	g := Gap{Pair: a1, Episode: episodeID(a1, t0), Since: t0, LastKey: key, Detected: t0.Add(31 * time.Minute)}
	d := g.Detection()
	for _, want := range []string{"111122223333", "us-east-1", "31m0s", "2026-12-01T08:00:00Z"} {
		if !strings.Contains(d.Title, want) {
			t.Errorf("title %q lacks %q", d.Title, want)
		}
	}
	if d.Source != key || d.AccountID != a1.Account || d.Region != a1.Region || !d.EventTime.Equal(t0) || d.Resolved {
		t.Errorf("alert %+v", d)
	}
	if d.EventID != "log-gap/111122223333/us-east-1/"+fmt.Sprint(t0.UnixMilli()) {
		t.Errorf("event id %q", d.EventID)
	}
	g.Resumed, g.ResumedKey = t0.Add(40*time.Minute), keyOf(a1, t0.Add(40*time.Minute))
	r := g.Detection()
	if !r.Resolved || r.EventID != d.EventID || r.Key() == d.Key() || !strings.Contains(r.Title, "flow again") {
		t.Errorf("all-clear %+v", r)
	}
}

// countSeries returns how many series the metric name has in reg.
func countSeries(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// value reads a gauge or counter.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	_ = m.Write(&d)
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// TestWatchdogCardinality: a flood of objects from random accounts tracks
// at most MaxPairs pairs and creates at most MaxPairs series per metric;
// the listed pairs are tracked whatever the flood.
func TestWatchdogCardinality(t *testing.T) {
	reg := prometheus.NewRegistry()
	exp, _ := ParseExpect("444455556666:us-west-2")
	c := &clock{t: t0}
	w, err := New(Config{MaxPairs: 50, Expect: exp, Deliverer: &recorder{}, Metrics: NewMetrics(reg), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		p := Pair{fmt.Sprintf("%012d", 100000000000+i), "us-east-1"}
		w.ObjectRead(testBucket, p.Account, p.Region, keyOf(p, t0), t0)
	}
	w.ObjectRead(testBucket, b1.Account, b1.Region, keyOf(b1, t0), t0)
	w.Check(t.Context())
	if n := w.Tracked(); n > 51 {
		t.Errorf("%d pairs tracked, want at most 50 + the listed one", n)
	}
	for _, name := range []string{"rootwatch_log_last_object_timestamp_seconds", "rootwatch_log_event_lag_seconds", "rootwatch_log_gap"} {
		if n := countSeries(t, reg, name); n > 51 {
			t.Errorf("%s has %d series, want at most 51", name, n)
		}
	}
	if v := value(w.m.LastObject.WithLabelValues(b1.Account, b1.Region)); v != float64(t0.Unix()) {
		t.Errorf("listed pair's last object %v, want %v", v, t0.Unix())
	}
	if v := value(w.m.Dropped); v != 10000-50+1 {
		t.Errorf("dropped %v, want %d", v, 10000-50+1)
	}
	// Past the expect window the learned pairs and their series go.
	c.set(t0.Add(DefaultExpectWindow + time.Minute))
	w.Check(t.Context())
	if n := countSeries(t, reg, "rootwatch_log_last_object_timestamp_seconds"); n > 1 {
		t.Errorf("%d last-object series after the expect window, want only the listed pair's", n)
	}
}

// TestWatchdogMetrics: last-object time and event lag of a pair.
func TestWatchdogMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := &clock{t: t0}
	w, _ := New(Config{Deliverer: &recorder{}, Metrics: NewMetrics(reg), Now: c.now})
	w.ObjectRead(testBucket, a1.Account, a1.Region, keyOf(a1, t0), t0.Add(-7*time.Minute))
	w.Check(t.Context())
	if v := value(w.m.EventLag.WithLabelValues(a1.Account, a1.Region)); v != 420 {
		t.Errorf("event lag %v, want 420", v)
	}
	if v := value(w.m.Gap.WithLabelValues(a1.Account, a1.Region)); v != 0 {
		t.Errorf("gap %v, want 0", v)
	}
	c.set(t0.Add(DefaultStaleAfter))
	w.Check(t.Context())
	if v := value(w.m.Gap.WithLabelValues(a1.Account, a1.Region)); v != 1 {
		t.Errorf("gap %v, want 1", v)
	}
}

// TestWatchdogOnClosed: OnClosed hears once of each gap that ended because
// logs flowed again (alerted or not), with its window, for a backfill.
func TestWatchdogOnClosed(t *testing.T) {
	c := &clock{t: t0}
	rec := &recorder{}
	var got []string
	w, err := New(Config{StaleAfter: 10 * time.Minute, Deliverer: rec, Now: c.now, OnClosed: func(_ context.Context, g Gap) {
		got = append(got, fmt.Sprintf("%s %s-%s", g.Pair, g.Since.Sub(t0), g.Resumed.Sub(t0)))
	}})
	if err != nil {
		t.Fatal(err)
	}
	step := func(m int, read bool, fail bool) {
		at := t0.Add(time.Duration(m) * time.Minute)
		c.set(at)
		if read {
			w.ObjectRead(testBucket, a1.Account, a1.Region, keyOf(a1, at), at)
		}
		rec.SetFail(fail)
		w.Check(t.Context())
	}
	step(0, true, false)
	step(10, false, false) // alerted
	step(12, true, true)   // all-clear fails
	step(13, false, false) // all-clear delivered: closed
	step(14, false, false)
	step(23, false, true) // second gap, alert fails
	step(24, true, false) // closed unannounced
	step(25, false, false)
	want := []string{a1.String() + " 0s-12m0s", a1.String() + " 12m0s-24m0s"}
	if !slices.Equal(got, want) {
		t.Errorf("OnClosed got %q, want %q", got, want)
	}
}
