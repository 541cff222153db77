package notify

import (
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

func TestGrouperBounds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := newGrouper(time.Minute)
	g.maxGroups, g.maxMembers = 2, 3
	session := func(key string, i int) *detector.Detection {
		d := det(i, detector.LevelHigh)
		d.AccessKeyID = key
		return &d
	}
	a0, a1 := g.assign(session("A", 0), now), g.assign(session("A", 1), now)
	b0 := g.assign(session("B", 0), now)
	// Full: session C gets a burst of its own that is not remembered.
	c0, c1 := g.assign(session("C", 0), now), g.assign(session("C", 1), now)
	tests := []struct {
		name               string
		got                *Group
		wantSeq, wantCount int
	}{
		{"A first", a0, 0, 1},
		{"A second", a1, 1, 2},
		{"B first", b0, 0, 1},
		{"C over the group bound", c0, 0, 1},
		{"C again over the bound: new burst", c1, 0, 1},
	}
	for _, tt := range tests {
		if tt.got.Seq != tt.wantSeq || tt.got.Count != tt.wantCount {
			t.Errorf("%s: seq %d count %d, want %d %d", tt.name, tt.got.Seq, tt.got.Count, tt.wantSeq, tt.wantCount)
		}
	}
	if len(g.groups) != 2 || g.members != 3 {
		t.Fatalf("groups %d members %d, want 2 groups, 3 members", len(g.groups), g.members)
	}
	// The member budget is spent: a repeat in A is not recognised but still grouped.
	a2 := g.assign(session("A", 2), now)
	if again := g.assign(session("A", 2), now); again.Seq == a2.Seq || again.Key != a0.Key {
		t.Errorf("repeat beyond the member bound: %+v after %+v", *again, *a2)
	}
	// After the window, closed bursts are swept and their budget returned.
	later := now.Add(time.Minute)
	c := g.assign(session("C", 3), later)
	if c.Seq != 0 || len(g.groups) != 1 || g.members != 1 {
		t.Errorf("after the window: %+v, groups %d members %d; want seq 0, 1 group, 1 member", *c, len(g.groups), g.members)
	}
}

// TestIncidentKeyAcrossReplicas: two replicas (two groupers, clocks apart)
// that see a session's events compute the same incident key for events in
// the same window-aligned slot, a different one for the next slot, and
// none without an event time.
func TestIncidentKeyAcrossReplicas(t *testing.T) {
	const window = 10 * time.Minute
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	det := func(id string, at time.Time) *detector.Detection {
		return &detector.Detection{Rule: "root-api-call", EventID: id, AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE", EventTime: at}
	}
	a, b := newGrouper(window), newGrouper(window)
	tests := []struct {
		name       string
		d1, d2     *detector.Detection
		now1, now2 time.Time
		same       bool
	}{
		{"same slot, replicas seeing it minutes apart", det("e1", base.Add(1*time.Minute)), det("e2", base.Add(8*time.Minute)), base.Add(5 * time.Minute), base.Add(12 * time.Minute), true},
		{"next slot", det("e3", base.Add(9*time.Minute)), det("e4", base.Add(11*time.Minute)), base.Add(20 * time.Minute), base.Add(20 * time.Minute), false},
		{"other session", det("e5", base), &detector.Detection{Rule: "root-api-call", EventID: "e6", AccountID: "111122223333", AccessKeyID: "AKIAOTHER", EventTime: base}, base, base, false},
	}
	for _, tt := range tests {
		k1 := a.assign(tt.d1, tt.now1).IncidentKey
		k2 := b.assign(tt.d2, tt.now2).IncidentKey
		if k1 == "" || k2 == "" {
			t.Fatalf("%s: empty incident key (%q, %q)", tt.name, k1, k2)
		}
		if (k1 == k2) != tt.same {
			t.Errorf("%s: keys %q and %q, want same=%v", tt.name, k1, k2, tt.same)
		}
	}
	if k := a.assign(det("e7", time.Time{}), base).IncidentKey; k != "" {
		t.Errorf("no event time: incident key %q, want empty", k)
	}
}
