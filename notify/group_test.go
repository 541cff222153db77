package notify

import (
	"context"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// mustAssign assigns d with g, failing the test on a store error.
func mustAssign(t *testing.T, g *grouper, d *detector.Detection, now time.Time) *Group {
	t.Helper()
	grp, err := g.assign(context.Background(), d, now)
	if err != nil {
		t.Fatal(err)
	}
	return grp
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
	a, b := newGrouper(window, nil), newGrouper(window, nil)
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
		k1 := mustAssign(t, a, tt.d1, tt.now1).IncidentKey
		k2 := mustAssign(t, b, tt.d2, tt.now2).IncidentKey
		if k1 == "" || k2 == "" {
			t.Fatalf("%s: empty incident key (%q, %q)", tt.name, k1, k2)
		}
		if (k1 == k2) != tt.same {
			t.Errorf("%s: keys %q and %q, want same=%v", tt.name, k1, k2, tt.same)
		}
	}
	if k := mustAssign(t, a, det("e7", time.Time{}), base).IncidentKey; k != "" {
		t.Errorf("no event time: incident key %q, want empty", k)
	}
}
