package burst

import (
	"context"
	"testing"
	"time"
)

// TestMemoryBounds: beyond the open-burst bound a session gets a burst of
// its own that is not remembered; beyond the member bound a repeat gets a
// new Seq; closed bursts are swept and their budget returned.
func TestMemoryBounds(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	m.maxGroups, m.maxMembers = 2, 3
	join := func(sess, member string, at time.Time) Membership {
		t.Helper()
		got, err := m.Join(ctx, sess, member, at, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a0, a1 := join("A", "a0", now), join("A", "a1", now)
	b0 := join("B", "b0", now)
	// Full: session C gets a burst of its own that is not remembered.
	c0, c1 := join("C", "c0", now), join("C", "c1", now)
	tests := []struct {
		name               string
		got                Membership
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
	if len(m.groups) != 2 || m.members != 3 {
		t.Fatalf("groups %d members %d, want 2 groups, 3 members", len(m.groups), m.members)
	}
	// The member budget is spent: a repeat in A is not recognised but still grouped.
	a2 := join("A", "a2", now)
	if again := join("A", "a2", now); again.Seq == a2.Seq || again.Key != a0.Key {
		t.Errorf("repeat beyond the member bound: %+v after %+v", again, a2)
	}
	// After the window, closed bursts are swept and their budget returned.
	later := now.Add(time.Minute)
	c := join("C", "c3", later)
	if c.Seq != 0 || len(m.groups) != 1 || m.members != 1 {
		t.Errorf("after the window: %+v, groups %d members %d; want seq 0, 1 group, 1 member", c, len(m.groups), m.members)
	}
}
