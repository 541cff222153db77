package watchdog

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// memStore is a Store in memory with the DynamoDB store's semantics.
type memStore struct {
	mu sync.Mutex
	m  map[Pair]State
}

func newMemStore() *memStore { return &memStore{m: map[Pair]State{}} }

func (s *memStore) Load(context.Context) ([]State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []State
	for _, v := range s.m {
		out = append(out, v)
	}
	return out, nil
}

func (s *memStore) Get(_ context.Context, p Pair) (State, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[p]
	return v, ok, nil
}

func (s *memStore) Save(_ context.Context, st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[st.Pair]; ok && old.LastSeen.UnixMilli() > st.LastSeen.UnixMilli() {
		return fmt.Errorf("save %s: %w", st.Pair, ErrStale)
	}
	// The DynamoDB store keeps milliseconds.
	for _, t := range []*time.Time{&st.LastSeen, &st.NewestEvent, &st.Since, &st.AlertedSince} {
		if !t.IsZero() {
			*t = time.UnixMilli(t.UnixMilli()).UTC()
		}
	}
	s.m[st.Pair] = st
	return nil
}

// instance is one watchdog process on a shared clock and store.
func instance(t *testing.T, c *clock, st Store, rec *recorder, expect string) *Watchdog {
	t.Helper()
	exp, err := ParseExpect(expect)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{StaleAfter: 10 * time.Minute, ExpectWindow: time.Hour, Expect: exp, Deliverer: rec, Store: st, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return w
}

func summaries(rec *recorder) []string {
	var out []string
	for _, d := range rec.Take() {
		out = append(out, summary(d)+" "+d.EventID)
	}
	return out
}

// TestWatchdogRestart: with a Store, a restarted watchdog does not alert a
// gap already alerted (learned or listed pair), and delivers the
// all-clear with the same event id when logs resume; a gap that opened
// while rootwatch was down is alerted once.
func TestWatchdogRestart(t *testing.T) {
	tests := []struct {
		name   string
		expect string
		before []Pair        // objects read before the gap
		down   time.Duration // how long the restart takes
		resume Pair          // the pair whose logs resume after the restart
		want   [][]string    // deliveries: first process, restarted before resume, after resume
	}{
		{name: "learned pair", before: []Pair{a1}, resume: a1,
			want: [][]string{{"alert " + a1.String()}, nil, {"clear " + a1.String()}}},
		{name: "listed pair that never sent", expect: b1.String(), resume: b1,
			want: [][]string{{"alert " + b1.String()}, nil, {"clear " + b1.String()}}},
		{name: "learned and listed", expect: b1.String(), before: []Pair{a1}, resume: a1,
			want: [][]string{{"alert " + a1.String(), "alert " + b1.String()}, nil, {"clear " + a1.String()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			st, rec := newMemStore(), &recorder{}
			w1 := instance(t, c, st, rec, tt.expect)
			for _, p := range tt.before {
				w1.ObjectRead(testBucket, p.Account, p.Region, keyOf(p, t0), t0)
			}
			w1.Check(t.Context())
			c.set(t0.Add(11 * time.Minute))
			w1.Check(t.Context())
			first := summaries(rec)
			slices.Sort(first)
			if got := stripIDs(first); !slices.Equal(got, tt.want[0]) {
				t.Fatalf("first process delivered %q, want %q", first, tt.want[0])
			}

			c.set(t0.Add(20 * time.Minute))
			w2 := instance(t, c, st, rec, tt.expect)
			for i := range 5 {
				c.set(t0.Add(20*time.Minute + time.Duration(i)*time.Minute))
				w2.Check(t.Context())
			}
			if got := summaries(rec); len(got) != 0 {
				t.Fatalf("restarted process delivered %q, want nothing", got)
			}
			if len(w2.Gaps()) != len(tt.want[0]) {
				t.Errorf("restarted process has gaps %v, want %d", w2.Gaps(), len(tt.want[0]))
			}

			at := t0.Add(30 * time.Minute)
			c.set(at)
			w2.ObjectRead(testBucket, tt.resume.Account, tt.resume.Region, keyOf(tt.resume, at), at)
			w2.Check(t.Context())
			last := summaries(rec)
			if got := stripIDs(last); !slices.Equal(got, tt.want[2]) {
				t.Fatalf("after resume delivered %q, want %q", last, tt.want[2])
			}
			// The all-clear carries the alert's event id.
			for _, l := range last {
				id := l[len("clear ")+len(tt.resume.String())+1:]
				found := false
				for _, f := range first {
					found = found || f == "alert "+tt.resume.String()+" "+id
				}
				if !found {
					t.Errorf("all-clear %q matches no alert of %q", l, first)
				}
			}
		})
	}
}

// TestWatchdogReplicas: two replicas behind one queue share a Store; each
// reads only some of a pair's objects. Neither alerts while the pair's
// objects flow to either; when they stop, the alerts of both carry one
// event id (the dedupe ledger folds them); when the next object reaches
// only one replica, the other learns of it from the Store and both
// all-clears carry that id too.
func TestWatchdogReplicas(t *testing.T) {
	c := &clock{t: t0}
	st := newMemStore()
	recA, recB := &recorder{}, &recorder{}
	wa, wb := instance(t, c, st, recA, ""), instance(t, c, st, recB, "")
	ws := []*Watchdog{wa, wb}
	// 40 minutes of objects every 5 minutes, all to replica A after the
	// first: replica B's own view is quiet for 35 minutes.
	for i := 0; i <= 8; i++ {
		at := t0.Add(time.Duration(i) * 5 * time.Minute)
		c.set(at)
		w := wa
		if i == 0 {
			w = wb
		}
		w.ObjectRead(testBucket, a1.Account, a1.Region, keyOf(a1, at), at)
		for _, w := range ws {
			w.Check(t.Context())
		}
	}
	if a, b := summaries(recA), summaries(recB); len(a)+len(b) != 0 {
		t.Fatalf("alerts while logs flow: A %q, B %q", a, b)
	}
	c.set(t0.Add(51 * time.Minute))
	for _, w := range ws {
		w.Check(t.Context())
	}
	a, b := summaries(recA), summaries(recB)
	if len(a) != 1 || len(b) > 1 || (len(b) == 1 && b[0] != a[0]) {
		t.Fatalf("gap alerts: A %q, B %q; want one, and B's (if any) the same", a, b)
	}
	// The next object reaches only replica B.
	at := t0.Add(55 * time.Minute)
	c.set(at)
	wb.ObjectRead(testBucket, a1.Account, a1.Region, keyOf(a1, at), at)
	for _, w := range ws {
		w.Check(t.Context())
	}
	for _, w := range ws { // A learns of it through the store at its next check
		w.Check(t.Context())
	}
	ca, cb := summaries(recA), summaries(recB)
	want := "clear" + a[0][len("alert"):]
	if len(ca) != 1 || ca[0] != want {
		t.Errorf("replica A all-clears %q, want [%q]", ca, want)
	}
	if len(cb) > 1 || len(cb) == 1 && cb[0] != want {
		t.Errorf("replica B all-clears %q, want none or [%q]", cb, want)
	}
	for i, w := range ws {
		if g := w.Gaps(); len(g) != 0 {
			t.Errorf("replica %d still has gaps %v", i, g)
		}
	}
}

func stripIDs(s []string) []string {
	var out []string
	for _, v := range s {
		i := len(v)
		for j := len(v) - 1; j >= 0; j-- {
			if v[j] == ' ' {
				i = j
				break
			}
		}
		out = append(out, v[:i])
	}
	return out
}

// TestWatchdogRestartGrace: after a restart longer than StaleAfter, a pair
// loaded from the Store gets StaleAfter from the start to send (the queue's
// backlog is read first): if its object arrives, no alert; if not, one
// alert whose episode starts at the pair's last object before the
// restart.
func TestWatchdogRestartGrace(t *testing.T) {
	for _, backlog := range []bool{true, false} {
		t.Run(fmt.Sprintf("backlog %v", backlog), func(t *testing.T) {
			c := &clock{t: t0}
			st, rec := newMemStore(), &recorder{}
			w1 := instance(t, c, st, rec, "")
			w1.ObjectRead(testBucket, a1.Account, a1.Region, keyOf(a1, t0), t0)
			c.set(t0.Add(time.Minute))
			w1.Check(t.Context())

			start := t0.Add(30 * time.Minute)
			c.set(start)
			w2 := instance(t, c, st, rec, "")
			var got []string
			for m := 0; m <= 11; m++ {
				at := start.Add(time.Duration(m) * time.Minute)
				c.set(at)
				if backlog && m == 2 {
					w2.ObjectRead(testBucket, a1.Account, a1.Region, keyOf(a1, t0.Add(5*time.Minute)), at)
				}
				w2.Check(t.Context())
				for _, s := range summaries(rec) {
					got = append(got, fmt.Sprintf("+%dm %s", m, s))
				}
			}
			want := []string{fmt.Sprintf("+10m alert %s %s", a1, episodeID(a1, t0))}
			if backlog {
				want = nil
			}
			if !slices.Equal(got, want) {
				t.Errorf("delivered %q, want %q", got, want)
			}
		})
	}
}

// TestWatchdogRestartWithoutStore documents what a restart without a
// Store forgets: a learned pair quiet across the restart is not alerted
// (nothing knows it), and a listed pair is alerted again as a new episode,
// StaleAfter after the start.
func TestWatchdogRestartWithoutStore(t *testing.T) {
	c := &clock{t: t0}
	rec := &recorder{}
	w1 := instance(t, c, nil, rec, b1.String())
	w1.ObjectRead(testBucket, a1.Account, a1.Region, keyOf(a1, t0), t0)
	c.set(t0.Add(10 * time.Minute))
	w1.Check(t.Context())
	first := summaries(rec)
	if len(first) != 2 {
		t.Fatalf("first process delivered %q, want the two gaps", first)
	}
	start := t0.Add(15 * time.Minute)
	c.set(start)
	w2 := instance(t, c, nil, rec, b1.String())
	c.set(start.Add(10 * time.Minute))
	w2.Check(t.Context())
	got := summaries(rec)
	want := []string{fmt.Sprintf("alert %s %s", b1, episodeID(b1, start))}
	if !slices.Equal(got, want) {
		t.Errorf("restarted process delivered %q, want %q", got, want)
	}
}

// TestGapFillSource: a closed gap says where and what to fill: the bucket
// and trail prefix of the pair's last object (of the resumed object for a
// pair that never sent), kept across a restart through the Store, and the
// window from the last object's key time minus FillMargin to the resume.
func TestGapFillSource(t *testing.T) {
	tests := []struct {
		name       string
		expect     string
		last       string // key of the last object before the gap ("" none)
		lastBucket string
		restart    bool
		resume     string
		wantBucket string
		wantPrefix string
		wantStart  time.Time
		wantEnd    time.Time
	}{
		{name: "learned pair", last: keyOf(a1, t0.Add(-4*time.Minute)), lastBucket: "b1", resume: keyOf(a1, t0.Add(40*time.Minute)),
			wantBucket: "b1", wantStart: t0.Add(-4*time.Minute - FillMargin), wantEnd: t0.Add(40 * time.Minute)},
		{name: "prefixed trail, restart", last: "org/trail/" + keyOf(a1, t0), lastBucket: "b1", restart: true,
			resume:     "org/trail/" + keyOf(a1, t0.Add(40*time.Minute)),
			wantBucket: "b1", wantPrefix: "org/trail/", wantStart: t0.Add(-FillMargin), wantEnd: t0.Add(40 * time.Minute)},
		{name: "listed pair that never sent", expect: a1.String(), resume: "p/" + keyOf(a1, t0.Add(40*time.Minute)),
			wantBucket: "b2", wantPrefix: "p/", wantStart: t0.Add(-FillMargin), wantEnd: t0.Add(40 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			st, rec := newMemStore(), &recorder{}
			var closed []Gap
			build := func() *Watchdog {
				exp, err := ParseExpect(tt.expect)
				if err != nil {
					t.Fatal(err)
				}
				w, err := New(Config{StaleAfter: 10 * time.Minute, ExpectWindow: time.Hour, Expect: exp, Deliverer: rec, Store: st,
					Now: c.now, OnClosed: func(_ context.Context, g Gap) { closed = append(closed, g) }})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Load(t.Context()); err != nil {
					t.Fatal(err)
				}
				return w
			}
			w := build()
			if tt.last != "" {
				w.ObjectRead(tt.lastBucket, a1.Account, a1.Region, tt.last, t0.Add(-5*time.Minute))
			}
			w.Check(t.Context())
			c.set(t0.Add(11 * time.Minute))
			w.Check(t.Context())
			if tt.restart {
				c.set(t0.Add(20 * time.Minute))
				w = build()
				w.Check(t.Context())
			}
			c.set(t0.Add(40 * time.Minute))
			w.ObjectRead("b2", a1.Account, a1.Region, tt.resume, t0.Add(35*time.Minute))
			w.Check(t.Context())
			if len(closed) != 1 {
				t.Fatalf("closed %+v, want one gap", closed)
			}
			g := closed[0]
			start, end, ok := g.FillWindow()
			if g.Bucket != tt.wantBucket || g.Prefix != tt.wantPrefix || !ok || !start.Equal(tt.wantStart) || !end.Equal(tt.wantEnd) {
				t.Errorf("gap fills s3://%s/%s %s-%s (%v), want s3://%s/%s %s-%s", g.Bucket, g.Prefix, start.Sub(t0), end.Sub(t0), ok,
					tt.wantBucket, tt.wantPrefix, tt.wantStart.Sub(t0), tt.wantEnd.Sub(t0))
			}
		})
	}
}
