package correlate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// followUps returns the follow-ups among ds.
func followUps(ds []detector.Detection) []detector.Detection {
	return slices.DeleteFunc(slices.Clone(ds), func(d detector.Detection) bool { return d.CorrelationUpdate == "" })
}

// incidentKeys is the set of distinct incident alert keys among ds
// (follow-ups left out).
func incidentKeys(ds []detector.Detection) []string {
	return keys(slices.DeleteFunc(slices.Clone(ds), func(d detector.Detection) bool { return d.CorrelationUpdate != "" }))
}

// joined returns the ids of the events a follow-up announces.
func joined(d detector.Detection) []string {
	var ids []string
	for _, e := range d.Correlated {
		if e.Joined {
			ids = append(ids, e.EventID)
		}
	}
	return ids
}

// TestFollowUp: an event that joins a fired incident raises a follow-up
// (the incident's rule, level and id, its own key, every event listed,
// the new one marked Joined), on the memory store and on DynamoDB shared
// by two replicas; a redelivery raises it again with the same key, and so
// does the other replica.
func TestFollowUp(t *testing.T) {
	stores := map[string]func(t *testing.T) (Store, Store){
		"memory": func(*testing.T) (Store, Store) { s := NewMemory(0, nil); return s, s },
		"dynamodb": func(t *testing.T) (Store, Store) {
			api, table := dedupeTable(t)
			a, err := NewDynamoDB(api, table)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewDynamoDB(api, table)
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			s1, s2 := mk(t)
			r1, r2 := newCorrelator(t, s1, nil), newCorrelator(t, s2, nil)
			var fired []detector.Detection
			for i := range 5 {
				fired = append(fired, run(t, r1, det("fail", fmt.Sprint(i), "111", "1.1.1.1", time.Duration(i)*time.Minute))...)
			}
			alerts := slices.DeleteFunc(fired, func(d detector.Detection) bool { return d.Rule != "failures" })
			if len(alerts) != 1 || len(followUps(alerts)) != 0 {
				t.Fatalf("five failures raised %v, want one alert", keys(fired))
			}
			alert := alerts[0]
			late := det("fail", "late", "111", "1.1.1.1", 6*time.Minute)
			got := run(t, r2, late)
			fu := followUps(got)
			if len(fu) != 1 || len(got) != 1 {
				t.Fatalf("late event raised %v, want one follow-up", keys(got))
			}
			f := fu[0]
			if f.Rule != "failures" || f.EventID != alert.EventID || f.Level != detector.LevelHigh || f.Title != alert.Title ||
				f.Key() != "failures/"+alert.EventID+"/+late" || f.Key() == alert.Key() {
				t.Errorf("follow-up %s rule %s event %s level %v", f.Key(), f.Rule, f.EventID, f.Level)
			}
			if len(f.Correlated) != 6 || !slices.Equal(joined(f), []string{"late"}) {
				t.Errorf("follow-up lists %d events, joined %v; want 6, [late]", len(f.Correlated), joined(f))
			}
			// Redelivered, to either replica: the alert and the same
			// follow-up again, for dedupe to drop.
			for _, r := range []*Correlator{r1, r2} {
				again := run(t, r, late)
				if ks := keys(again); !slices.Equal(ks, keys([]detector.Detection{alert, f})) {
					t.Errorf("redelivery raised %v, want %s and %s", ks, alert.Key(), f.Key())
				}
			}
		})
	}
}

// TestFollowUpTakeover: a root API call arriving after the takeover-chain
// alert is announced by a follow-up that names it.
func TestFollowUpTakeover(t *testing.T) {
	c := newCorrelator(t, NewMemory(0, nil), nil)
	got := run(t, c, det("a", "1", "111", "", 0), det("b", "2", "111", "", time.Hour), det("c", "3", "111", "", 2*time.Hour))
	if ks := incidentKeys(got); len(ks) != 1 { // chain (a and c are too far apart for anyorder)
		t.Fatalf("fired %v", ks)
	}
	got = run(t, c, det("c", "4", "111", "", 3*time.Hour))
	var chain []detector.Detection
	for _, d := range followUps(got) {
		if d.Rule == "chain" {
			chain = append(chain, d)
		}
	}
	if len(chain) != 1 || !slices.Equal(joined(chain[0]), []string{"4"}) || chain[0].Level != detector.LevelCritical || len(chain[0].Correlated) != 4 {
		t.Fatalf("late API call raised %v", keys(got))
	}
}

// TestFollowUpRateLimited: a 250-failure brute force within 15 minutes
// makes one alert and a handful of follow-ups (the first joining event,
// then each time the incident doubles or FollowUpGap of event time
// passed), each announcing events no earlier one did, with the count so
// far.
func TestFollowUpRateLimited(t *testing.T) {
	c := newCorrelator(t, NewMemory(0, nil), nil)
	const n = 250
	var got []detector.Detection
	for i := range n {
		got = append(got, run(t, c, det("fail", fmt.Sprint(i), "111", "1.1.1.1", time.Duration(i)*14*time.Minute/n))...)
	}
	var fus []detector.Detection
	for _, d := range got {
		if d.Rule == "failures" && d.CorrelationUpdate != "" {
			fus = append(fus, d)
		}
	}
	if ks := incidentKeys(slices.DeleteFunc(slices.Clone(got), func(d detector.Detection) bool { return d.Rule != "failures" })); len(ks) != 1 {
		t.Fatalf("incident keys %v, want 1", ks)
	}
	if len(fus) < 2 || len(fus) > 12 {
		t.Fatalf("%d follow-ups for %d failures, want between 2 and 12", len(fus), n)
	}
	told := map[string]bool{}
	prev := 0
	for _, f := range fus {
		if len(f.Correlated) <= prev {
			t.Errorf("follow-up %s lists %d events, the previous one %d", f.Key(), len(f.Correlated), prev)
		}
		prev = len(f.Correlated)
		for _, id := range joined(f) {
			if told[id] {
				t.Errorf("event %s announced twice", id)
			}
			told[id] = true
		}
		if !told[f.CorrelationUpdate] || !strings.HasSuffix(f.Key(), "/+"+f.CorrelationUpdate) {
			t.Errorf("follow-up %s does not announce the event that raised it", f.Key())
		}
	}
	t.Logf("%d failures: %d follow-ups, %d events announced, last lists %d", n, len(fus), len(told), prev)
}
