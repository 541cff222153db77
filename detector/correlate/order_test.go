package correlate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// takeoverSequence is the sample's root takeover (testdata/sample) in the
// test rules' terms, for account: two password changes (a), two credential
// steps (b; each also a root API call, c, as root-api-call matches them
// too) and three more API calls (c), all within 15 minutes. Whatever the
// order they arrive in, that is one takeover.
func takeoverSequence(account string) []detector.Detection {
	at := func(hms string) time.Duration {
		tm, err := time.Parse("15:04:05", hms)
		if err != nil {
			panic(err)
		}
		return time.Duration(tm.Hour()-8)*time.Hour + time.Duration(tm.Minute())*time.Minute + time.Duration(tm.Second())*time.Second
	}
	both := func(id, hms string) []detector.Detection {
		return []detector.Detection{det("b", id, account, "203.0.113.7", at(hms)), det("c", id, account, "203.0.113.7", at(hms))}
	}
	ds := []detector.Detection{
		det("a", account+"-pw1", account, "203.0.113.7", at("08:59:10")),
		det("a", account+"-pw2", account, "203.0.113.8", at("09:01:31")),
		det("c", account+"-api1", account, "203.0.113.7", at("09:12:40")),
		det("c", account+"-api2", account, "203.0.113.7", at("09:13:15")),
		det("c", account+"-api3", account, "203.0.113.8", at("09:04:52")),
	}
	ds = append(ds, both(account+"-key1", "09:04:12")...)
	return append(ds, both(account+"-key2", "09:04:50")...)
}

// arrivals returns ds in the order of permutation p (nil: as given,
// "rev": reversed, else a seeded shuffle), with some detections
// duplicated (redeliveries), cut into batches of random sizes (S3 objects
// of several records).
func arrivals(ds []detector.Detection, seed uint64, order string) [][]detector.Detection {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ds = slices.Clone(ds)
	switch order {
	case "rev":
		slices.Reverse(ds)
	case "shuffle":
		r.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	}
	for range r.IntN(4) { // redeliveries, anywhere after the first delivery
		i := r.IntN(len(ds))
		ds = slices.Insert(ds, i+r.IntN(len(ds)-i)+1, ds[i])
	}
	var batches [][]detector.Detection
	for len(ds) > 0 {
		n := 1 + r.IntN(min(len(ds), 4))
		batches = append(batches, ds[:n])
		ds = ds[n:]
	}
	return batches
}

// orders runs check for the sequence as given, reversed and in 200 seeded
// shuffles, each with duplicates and random batches.
func orders(t *testing.T, ds []detector.Detection, check func(t *testing.T, name string, batches [][]detector.Detection)) {
	t.Helper()
	check(t, "in order", arrivals(ds, 1, ""))
	check(t, "reversed", arrivals(ds, 2, "rev"))
	for seed := range uint64(200) {
		check(t, fmt.Sprintf("shuffle %d", seed), arrivals(ds, seed, "shuffle"))
	}
}

// feedBatches feeds batches to c and returns the correlation detections
// of rule raised.
func feedBatches(t *testing.T, c *Correlator, batches [][]detector.Detection, rule string) []detector.Detection {
	t.Helper()
	var out []detector.Detection
	for _, b := range batches {
		got, err := c.Correlate(context.Background(), slices.Clone(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.Rule == rule && g.IsCorrelation() {
				out = append(out, g)
			}
		}
	}
	return out
}

// TestTakeoverChainOrderIndependent: the sample's takeover, in two
// accounts, arriving in any order, in batches, with redeliveries, makes
// exactly one chain alert key per account (follow-ups, with keys of their
// own, left out), and each names every step.
func TestTakeoverChainOrderIndependent(t *testing.T) {
	ds := append(takeoverSequence("111"), takeoverSequence("222")...)
	orders(t, ds, func(t *testing.T, name string, batches [][]detector.Detection) {
		c := newCorrelator(t, NewMemory(0, nil), nil)
		got := feedBatches(t, c, batches, "chain")
		byAccount := map[string][]string{}
		for _, d := range got {
			if d.CorrelationUpdate == "" { // follow-ups have keys of their own
				byAccount[d.AccountID] = append(byAccount[d.AccountID], d.Key())
			}
			steps := map[string]bool{}
			for _, e := range d.Correlated {
				steps[e.Rule] = true
			}
			if !steps["a"] || !steps["b"] || !steps["c"] {
				t.Errorf("%s: alert %s names steps %v, want a, b and c", name, d.Key(), steps)
			}
		}
		for _, account := range []string{"111", "222"} {
			ks := slices.Compact(slices.Sorted(slices.Values(byAccount[account])))
			if len(ks) != 1 {
				t.Errorf("%s: account %s: %d chain alert keys %v, want exactly 1", name, account, len(ks), ks)
			}
		}
	})
}

// TestCountOrderIndependent: failed sign-ins within one timespan are one
// brute force, whatever their number and order: exactly one incident
// alert key of each count correlation (follow-ups left out), each event counted once, every event named.
func TestCountOrderIndependent(t *testing.T) {
	for _, n := range []int{5, 7, 10, 23} {
		var ds []detector.Detection
		for i := range n {
			// n failures within 14 minutes, from 4 addresses.
			ds = append(ds, det("fail", fmt.Sprintf("f%d", i), "111", fmt.Sprintf("10.0.0.%d", i%4), time.Duration(i)*14*time.Minute/time.Duration(n)))
		}
		orders(t, ds, func(t *testing.T, name string, batches [][]detector.Detection) {
			for _, rule := range []string{"failures", "ips"} {
				c := newCorrelator(t, NewMemory(0, nil), nil)
				got := feedBatches(t, c, batches, rule)
				if ks := incidentKeys(got); len(ks) != 1 {
					t.Errorf("%d failures, %s: %s: %d incident alert keys %v, want exactly 1", n, name, rule, len(ks), ks)
				}
			}
		})
	}
}
