package correlate

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/sigma"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

const rulesYAML = `title: Failures
name: failures
level: high
correlation:
  type: event_count
  rules: [fail]
  group-by: [recipientAccountId]
  timespan: 15m
  condition: {gte: 5}
---
title: IPs
name: ips
level: high
correlation:
  type: value_count
  rules: [fail]
  group-by: [recipientAccountId]
  timespan: 1h
  condition: {gte: 3, field: sourceIPAddress}
---
title: Chain
name: chain
level: critical
correlation:
  type: temporal_ordered
  rules: [a, b, c]
  group-by: [recipientAccountId]
  timespan: 24h
---
title: Any order
name: anyorder
level: medium
correlation:
  type: temporal
  rules: [a, c]
  group-by: [recipientAccountId]
  timespan: 1h
---
title: helper
name: helper
level: low
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: X}, condition: sel}
---
title: uses helper
name: helper-twice
level: low
correlation:
  type: event_count
  rules: [helper]
  group-by: []
  timespan: 1h
  condition: {gt: 1}
`

func baseRules(names ...string) string {
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "---\ntitle: %s\nname: %s\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection: {sel: {eventName: %s}, condition: sel}\n", n, n, n)
	}
	return sb.String()
}

func loadRules(t *testing.T) []*sigma.Rule {
	t.Helper()
	rs, err := sigma.ParseAll("corr.yml", []byte(rulesYAML), sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The base rules in a file of their own: no correlation hides them.
	base, err := sigma.ParseAll("base.yml", []byte(baseRules("fail", "a", "b", "c")), sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return append(rs, base...)
}

func newCorrelator(t *testing.T, store Store, m *Metrics) *Correlator {
	t.Helper()
	c, err := New(loadRules(t), Options{Store: store, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// det is a detection of rule for an event of account at t0+offset.
func det(rule, id, account, ip string, offset time.Duration) detector.Detection {
	at := t0.Add(offset)
	rec := fmt.Sprintf(`{"eventID":%q,"eventTime":%q,"eventName":%q,"recipientAccountId":%q,"sourceIPAddress":%q}`,
		id, at.Format(time.RFC3339), rule, account, ip)
	return detector.Detection{Rule: rule, Level: detector.LevelLow, EventID: id, EventName: rule, EventTime: at,
		AccountID: account, SourceIP: ip, Source: "test", Record: []byte(rec)}
}

// run feeds each detection alone, as the pipeline would record by record,
// and returns the correlation detections raised.
func run(t *testing.T, c *Correlator, ds ...detector.Detection) []detector.Detection {
	t.Helper()
	var out []detector.Detection
	for _, d := range ds {
		got, err := c.Correlate(context.Background(), []detector.Detection{d})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.IsCorrelation() {
				out = append(out, g)
			}
		}
	}
	return out
}

// keys is the set of distinct alert keys (what the dedupe ledger lets through).
func keys(ds []detector.Detection) []string {
	var ks []string
	for _, d := range ds {
		ks = append(ks, d.Key())
	}
	slices.Sort(ks)
	return slices.Compact(ks)
}

func rulesOf(ds []detector.Detection) []string {
	var rs []string
	for _, d := range ds {
		rs = append(rs, d.Rule)
	}
	slices.Sort(rs)
	return slices.Compact(rs)
}

func TestEventCount(t *testing.T) {
	fails := func(n int, step time.Duration, account string) []detector.Detection {
		var ds []detector.Detection
		for i := range n {
			ds = append(ds, det("fail", fmt.Sprintf("e%d-%s", i, account), account, "1.1.1.1", time.Duration(i)*step))
		}
		return ds
	}
	t.Run("five in 15 minutes", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		got := run(t, c, fails(5, 3*time.Minute, "111")...)
		if len(got) != 1 || got[0].Rule != "failures" || got[0].Level != detector.LevelHigh || len(got[0].Correlated) != 5 {
			t.Fatalf("got %+v", got)
		}
		for i, e := range got[0].Correlated {
			if e.EventID != fmt.Sprintf("e%d-111", i) || !e.EventTime.Equal(t0.Add(time.Duration(i)*3*time.Minute)) || e.Rule != "fail" || e.EventName != "fail" {
				t.Errorf("event %d = %+v", i, e)
			}
		}
		if !strings.HasPrefix(got[0].EventID, "corr-") || got[0].AccountID != "111" {
			t.Errorf("detection %+v", got[0])
		}
	})
	t.Run("four are not enough", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		if got := run(t, c, fails(4, time.Minute, "111")...); len(got) != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("spread over two hours", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		if got := run(t, c, fails(5, 30*time.Minute, "111")...); len(got) != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("two accounts", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		ds := append(fails(3, time.Minute, "111"), fails(2, time.Minute, "222")...)
		if got := run(t, c, ds...); len(got) != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("out of order, by event time", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		ds := fails(5, 3*time.Minute, "111")
		ds[0], ds[4], ds[1], ds[3] = ds[4], ds[0], ds[3], ds[1]
		got := run(t, c, ds...)
		if len(got) != 1 || len(got[0].Correlated) != 5 || got[0].Correlated[0].EventID != "e0-111" {
			t.Fatalf("got %+v", got)
		}
		// The same events in another order make the same alert id.
		c2 := newCorrelator(t, NewMemory(0, nil), nil)
		if again := run(t, c2, fails(5, 3*time.Minute, "111")...); again[0].EventID != got[0].EventID {
			t.Errorf("id depends on arrival order: %s vs %s", again[0].EventID, got[0].EventID)
		}
	})
	t.Run("redelivered events count once and re-raise the alert", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		ds := fails(4, time.Minute, "111")
		ds = append(ds, ds...) // every event twice
		if got := run(t, c, ds...); len(got) != 0 {
			t.Fatalf("4 events delivered twice fired: %+v", got)
		}
		fifth := fails(5, time.Minute, "111")[4]
		got := run(t, c, fifth, fifth, ds[0])
		if len(got) != 3 || len(keys(got)) != 1 {
			t.Fatalf("want the alert raised 3 times with one key, got %d with keys %v", len(got), keys(got))
		}
	})
	t.Run("ten in one timespan make one alert", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		ds := fails(10, time.Minute, "111")
		got := run(t, c, ds...)
		if len(incidentKeys(got)) != 1 || len(got[0].Correlated) != 5 {
			t.Fatalf("got %d alerts (%d events), want 1 of the first 5", len(incidentKeys(got)), len(got[0].Correlated))
		}
		// The later five joined the incident (announced by follow-ups): a
		// redelivery raises it again (same key) naming all ten.
		again := slices.DeleteFunc(run(t, c, ds[9]), func(d detector.Detection) bool { return d.CorrelationUpdate != "" })
		if len(again) != 1 || again[0].Key() != got[0].Key() || len(again[0].Correlated) != 10 {
			t.Fatalf("redelivery raised %v with %d events, want %s with 10", keys(again), len(again[0].Correlated), got[0].Key())
		}
	})
	t.Run("two bursts a timespan apart make two alerts", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		ds := append(fails(5, time.Minute, "111"), fails(5, time.Minute, "111")...)
		for i := 5; i < 10; i++ {
			ds[i].EventID += "-later"
			ds[i].EventTime = ds[i].EventTime.Add(20 * time.Minute)
		}
		if got := run(t, c, ds...); len(keys(got)) != 2 {
			t.Fatalf("got %d alerts, want 2", len(keys(got)))
		}
	})
}

func TestValueCount(t *testing.T) {
	c := newCorrelator(t, NewMemory(0, nil), nil)
	got := run(t, c,
		det("fail", "1", "111", "10.0.0.1", 0),
		det("fail", "2", "111", "10.0.0.1", time.Minute),
		det("fail", "3", "111", "10.0.0.2", 2*time.Minute),
		det("fail", "4", "222", "10.0.0.3", 3*time.Minute), // another account
	)
	if len(got) != 0 {
		t.Fatalf("2 IPs fired: %+v", got)
	}
	got = run(t, c, det("fail", "5", "111", "10.0.0.3", 50*time.Minute))
	if len(got) != 1 || got[0].Rule != "ips" {
		t.Fatalf("got %+v", got)
	}
	ips := map[string]bool{}
	for _, e := range got[0].Correlated {
		ips[e.SourceIP] = true
	}
	if len(ips) != 3 {
		t.Errorf("events %+v", got[0].Correlated)
	}
}

func TestTemporalOrdered(t *testing.T) {
	t.Run("in order", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		got := run(t, c, det("a", "1", "111", "", 0), det("b", "2", "111", "", 30*time.Minute), det("c", "3", "111", "", 50*time.Minute))
		if rs := rulesOf(got); !slices.Equal(rs, []string{"anyorder", "chain"}) {
			t.Fatalf("fired %v", rs)
		}
		for _, g := range got {
			if g.Rule == "chain" && (g.Level != detector.LevelCritical || len(g.Correlated) != 3 || g.Correlated[1].Rule != "b") {
				t.Errorf("chain %+v", g)
			}
		}
	})
	t.Run("arriving out of order, in order by event time", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		got := run(t, c, det("c", "3", "111", "", 2*time.Hour), det("a", "1", "111", "", 0), det("b", "2", "111", "", time.Hour))
		if rs := rulesOf(got); !slices.Contains(rs, "chain") {
			t.Fatalf("fired %v", rs)
		}
	})
	t.Run("wrong order", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		got := run(t, c, det("b", "2", "111", "", 0), det("a", "1", "111", "", time.Hour), det("c", "3", "111", "", 2*time.Hour))
		if rs := rulesOf(got); slices.Contains(rs, "chain") {
			t.Fatalf("fired %v", rs)
		}
	})
	t.Run("too far apart", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		got := run(t, c, det("a", "1", "111", "", 0), det("b", "2", "111", "", time.Hour), det("c", "3", "111", "", 25*time.Hour))
		if len(got) != 0 {
			t.Fatalf("fired %v", rulesOf(got))
		}
	})
	t.Run("steps in another account", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		got := run(t, c, det("a", "1", "111", "", 0), det("b", "2", "222", "", time.Hour), det("c", "3", "111", "", 2*time.Hour))
		if rs := rulesOf(got); slices.Contains(rs, "chain") {
			t.Fatalf("fired %v", rs)
		}
	})
	t.Run("one event is not two steps", func(t *testing.T) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		b := det("b", "2", "111", "", time.Hour)
		cAsSameEvent := b
		cAsSameEvent.Rule = "c" // the same record matched b and c
		got := run(t, c, det("a", "1", "111", "", 0), b, cAsSameEvent)
		if rs := rulesOf(got); slices.Contains(rs, "chain") {
			t.Fatalf("fired %v", rs)
		}
		got = run(t, c, det("c", "3", "111", "", time.Hour+time.Second))
		if rs := rulesOf(got); !slices.Contains(rs, "chain") {
			t.Fatalf("a later c: fired %v", rs)
		}
	})
}

func TestHiddenHelperRules(t *testing.T) {
	c := newCorrelator(t, NewMemory(0, nil), nil)
	got, err := c.Correlate(context.Background(), []detector.Detection{det("helper", "1", "111", "", 0), det("fail", "2", "111", "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if rs := rulesOf(got); !slices.Equal(rs, []string{"fail"}) {
		t.Fatalf("helper's detection not dropped: %v", rs)
	}
	// The engine marks the helper's detections (Helper); the correlation
	// its event completes is an alert all the same.
	h := det("helper", "3", "111", "", time.Minute)
	h.Helper = true
	got, _ = c.Correlate(context.Background(), []detector.Detection{h})
	if rs := rulesOf(got); !slices.Equal(rs, []string{"helper-twice"}) {
		t.Fatalf("got %v, want only the correlation", rs)
	}
}

func TestNewErrors(t *testing.T) {
	for name, src := range map[string]string{
		"unknown rule": "title: x\nname: x\nlevel: low\ncorrelation: {type: event_count, rules: [nope], group-by: [], timespan: 1h, condition: {gte: 2}}\n",
		"chained":      "title: x\nname: x\nlevel: low\ncorrelation: {type: event_count, rules: [y], group-by: [], timespan: 1h, condition: {gte: 2}}\n---\ntitle: y\nname: y\nlevel: low\ncorrelation: {type: event_count, rules: [a], group-by: [], timespan: 1h, condition: {gte: 2}}\n" + baseRules("a"),
	} {
		rs, err := sigma.ParseAll("f.yml", []byte(src), sigma.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(rs, Options{})
		if err == nil || !strings.Contains(err.Error(), "f.yml:4:") {
			t.Errorf("%s: err = %v, want one naming f.yml:4", name, err)
		}
	}
}

// TestMemoryBounded: past its group cap the store forgets the least
// recently updated group and counts it.
func TestMemoryBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	store := NewMemory(3, m)
	c := newCorrelator(t, store, m)
	for i := range 5 {
		run(t, c, det("fail", fmt.Sprint(i), fmt.Sprint(i), "10.0.0.1", 0))
	}
	// Each failure is in two groups (failures and ips): 10 groups, cap 3.
	if store.Len() != 3 {
		t.Errorf("store holds %d groups, want 3", store.Len())
	}
	if got := testutil.ToFloat64(m.groupsEvicted); got != 7 {
		t.Errorf("evictions = %v, want 7", got)
	}
	// Expired groups are dropped without counting.
	store.now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	run(t, c, det("fail", "x", "x", "10.0.0.1", 0))
	if got := testutil.ToFloat64(m.groupsEvicted); got != 7 {
		t.Errorf("evictions after expiry = %v, want still 7", got)
	}
}

// TestGroupBounded: a group keeps at most MaxEntries events.
func TestGroupBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	rs, err := sigma.ParseAll("f.yml", []byte("title: x\nname: x\nlevel: low\ncorrelation: {type: event_count, rules: [a], group-by: [], timespan: 1h, condition: {gte: 1000}}\n"+baseRules("a")), sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := NewMemory(0, m)
	c, err := New(rs, Options{Store: store, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxEntries + 10 {
		run(t, c, det("a", fmt.Sprint(i), "1", "", time.Duration(i)*time.Second))
	}
	var n int
	_ = store.Update(context.Background(), KeyPrefix+"x#"+groupKey(nil), func(s *State) (bool, time.Time) { n = len(s.Entries); return false, time.Time{} })
	if n != MaxEntries {
		t.Errorf("group holds %d events, want %d", n, MaxEntries)
	}
	if got := testutil.ToFloat64(m.eventsDropped.WithLabelValues("group_full")); got != 10 {
		t.Errorf("dropped = %v, want 10", got)
	}
}

// TestNoCorrelationsNoCost: detections of rules no correlation refers to
// never reach the store.
func TestNoCorrelationsNoCost(t *testing.T) {
	c := newCorrelator(t, failingStore{t}, nil)
	ds := []detector.Detection{det("other", "1", "1", "", 0)}
	got, err := c.Correlate(context.Background(), ds)
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
}

type failingStore struct{ t *testing.T }

func (f failingStore) Update(context.Context, string, func(*State) (bool, time.Time)) error {
	f.t.Error("store touched")
	return nil
}

// TestConcurrentMemory: many goroutines feeding the same events (as the
// scan's jobs do) raise one alert.
func TestConcurrentMemory(t *testing.T) {
	c := newCorrelator(t, NewMemory(0, nil), nil)
	var cs []*Correlator
	for range 4 {
		cs = append(cs, c)
	}
	all := feedConcurrently(t, cs, "failures", 5, func(w, i int) detector.Detection {
		j := (i + w) % 5
		return det("fail", fmt.Sprint(j), "111", "1.1.1.1", time.Duration(j)*time.Minute)
	})
	if len(keys(all)) != 1 {
		t.Fatalf("alerts %v, want one key", keys(all))
	}
}

// feedConcurrently runs one goroutine per correlator, each feeding it n
// detections (ev(worker, i)) one by one, and returns the detections of
// the correlation rule raised.
func feedConcurrently(t *testing.T, cs []*Correlator, rule string, n int, ev func(w, i int) detector.Detection) []detector.Detection {
	t.Helper()
	var mu sync.Mutex
	var raised []detector.Detection
	var wg sync.WaitGroup
	for w, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				got, err := c.Correlate(context.Background(), []detector.Detection{ev(w, i)})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for _, g := range got {
					if g.Rule == rule {
						raised = append(raised, g)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return raised
}

// TestAliases: group-by an alias that names a different field per rule.
func TestAliases(t *testing.T) {
	rs, err := sigma.ParseAll("a.yml", []byte(`title: same address
name: same-address
level: high
correlation:
  type: temporal
  rules: [a, b]
  group-by: [addr]
  aliases:
    addr:
      a: sourceIPAddress
      b: recipientAccountId
  timespan: 1h
  generate: true
`+baseRules("a", "b")), sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// a's sourceIPAddress equals b's recipientAccountId ("x"): correlated.
	got := run(t, c, det("a", "1", "111", "x", 0), det("b", "2", "x", "9.9.9.9", time.Minute))
	if rs := rulesOf(got); !slices.Equal(rs, []string{"same-address"}) {
		t.Fatalf("fired %v", rs)
	}
	// Different values: not.
	got = run(t, c, det("a", "3", "111", "y", 0), det("b", "4", "z", "y", time.Minute))
	if len(got) != 0 {
		t.Fatalf("fired %v", rulesOf(got))
	}
}
