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
