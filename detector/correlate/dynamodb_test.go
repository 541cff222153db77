package correlate

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/statetable"
)

// dedupeTable creates a table shaped like the dedupe ledger's (partition
// key "pk" S) on moto, reached through a SerialProxy so that conditional
// writes are atomic as on DynamoDB.
func dedupeTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	srv := mototest.Require(t)
	proxy := srv.DynamoDBProxy(t)
	api := srv.DynamoDB(t, proxy.URL)
	table := mototest.LedgerTable(t, api)
	return api, table
}

// TestDynamoDBTwoReplicas: two correlators sharing the table, each given
// every failed sign-in (as two replicas would be by a redelivery), fed
// concurrently in different orders: no event is counted in two alerts, and
// the five events of the first burst make one alert (its key may be raised
// by both, for the dedupe ledger to drop); a correlator started later (a
// restart) still knows the events.
func TestDynamoDBTwoReplicas(t *testing.T) {
	api, table := dedupeTable(t)
	newReplica := func() *Correlator {
		s, err := NewDynamoDB(api, table)
		if err != nil {
			t.Fatal(err)
		}
		return newCorrelator(t, s, nil)
	}
	// Two bursts of five failures, an hour apart, two replicas each seeing
	// all ten.
	const n = 10
	at := func(j int) time.Duration { return time.Duration(j%5)*time.Minute + time.Duration(j/5)*time.Hour }
	raised := feedConcurrently(t, []*Correlator{newReplica(), newReplica()}, "failures", n, func(w, i int) detector.Detection {
		j := (i*3 + w*5) % n
		return det("fail", fmt.Sprint(j), "111", "1.1.1.1", at(j))
	})
	if len(keys(raised)) != 2 {
		t.Fatalf("alerts %v, want exactly two (one per burst)", keys(raised))
	}
	inAlert := map[string]string{}
	for _, d := range raised {
		if len(d.Correlated) != 5 {
			t.Errorf("alert %s made of %d events, want 5", d.EventID, len(d.Correlated))
		}
		for _, e := range d.Correlated {
			if prev, ok := inAlert[e.EventID]; ok && prev != d.EventID {
				t.Errorf("event %s counted in alerts %s and %s", e.EventID, prev, d.EventID)
			}
			inAlert[e.EventID] = d.EventID
		}
	}
	slices.SortFunc(raised, func(a, b detector.Detection) int { return a.EventTime.Compare(b.EventTime) })
	// Four more failures on a restarted replica: not five new ones, no new
	// alert; they join the first burst's incident and are announced by its
	// follow-ups.
	r3 := newReplica()
	var after []detector.Detection
	for i := 10; i < 14; i++ {
		after = append(after, run(t, r3, det("fail", fmt.Sprint(i), "111", "1.1.1.1", 2*time.Minute+time.Duration(i)*time.Second))...)
	}
	if ks := incidentKeys(after); len(ks) != 0 {
		t.Errorf("after restart: new alerts %v", ks)
	}
	fus := followUps(after)
	if len(fus) == 0 {
		t.Errorf("after restart: no follow-up of %s", raised[0].Key())
	}
	for _, f := range fus {
		if f.Rule != "failures" || f.EventID != raised[0].EventID {
			t.Errorf("after restart: follow-up %s, want one of %s", f.Key(), raised[0].Key())
		}
	}
	// A redelivered event of the alert raises it again, with the same key.
	again := run(t, r3, det("fail", "2", "111", "1.1.1.1", at(2)))
	if len(again) != 1 || again[0].Key() != raised[0].Key() {
		t.Errorf("redelivery raised %v, want %s", keys(again), raised[0].Key())
	}
	// The item is where the brief says, with a TTL.
	out, err := api.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		pk := it["pk"].(*types.AttributeValueMemberS).Value
		exp, ok := it["expires_at"].(*types.AttributeValueMemberN)
		if len(pk) < len(KeyPrefix) || pk[:len(KeyPrefix)] != KeyPrefix || !ok || exp.Value == "" {
			t.Errorf("item %q expires_at %v", pk, it["expires_at"])
		}
	}
}

// TestDynamoDBExpiredItem: an item past expires_at that TTL has not yet
// deleted reads as empty.
func TestDynamoDBExpiredItem(t *testing.T) {
	api, table := dedupeTable(t)
	s, err := NewDynamoDB(api, table)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.Update(ctx, "corr#x#1", func(st *State) (bool, time.Time) {
		st.Entries = append(st.Entries, Entry{ID: "a"})
		return true, time.Now().Add(-time.Minute)
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Update(ctx, "corr#x#1", func(st *State) (bool, time.Time) {
		n = len(st.Entries)
		st.Entries = append(st.Entries, Entry{ID: "b"})
		return true, time.Now().Add(time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("expired item read with %d entries", n)
	}
	if err := s.Update(ctx, "corr#x#1", func(st *State) (bool, time.Time) { n = len(st.Entries); return false, time.Time{} }); err != nil || n != 1 {
		t.Errorf("after rewrite: %d entries, %v", n, err)
	}
}

// TestDynamoDBNoLostUpdate: two stores (two replicas) appending to one
// group concurrently lose nothing: every Update sees the other's writes
// or retries.
func TestDynamoDBNoLostUpdate(t *testing.T) {
	api, table := dedupeTable(t)
	const per = 15
	var wg sync.WaitGroup
	for w := range 2 {
		s, err := NewDynamoDB(api, table)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := s.Update(context.Background(), "corr#x#g", func(st *State) (bool, time.Time) {
					st.Entries = append(st.Entries, Entry{ID: fmt.Sprintf("%d-%d", w, i)})
					return true, time.Now().Add(time.Hour)
				}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	s, _ := NewDynamoDB(api, table)
	var ids []string
	_ = s.Update(t.Context(), "corr#x#g", func(st *State) (bool, time.Time) {
		for _, e := range st.Entries {
			ids = append(ids, e.ID)
		}
		return false, time.Time{}
	})
	if len(ids) != 2*per {
		t.Errorf("state holds %d entries, want %d: %v", len(ids), 2*per, ids)
	}
}

// TestDynamoDBTakeoverOrderIndependent: two replicas sharing the table,
// each given the sample's takeover (as a redelivery to both would) in its
// own shuffled order, concurrently: one chain alert key, naming every
// step, in every round.
func TestDynamoDBTakeoverOrderIndependent(t *testing.T) {
	api, table := dedupeTable(t)
	ds := takeoverSequence("111")
	for round := range uint64(6) {
		account := fmt.Sprintf("%d", 900+round) // a fresh group each round
		for i := range ds {
			ds[i] = det(ds[i].Rule, account+ds[i].EventID[3:], account, ds[i].SourceIP, ds[i].EventTime.Sub(t0))
		}
		var cs []*Correlator
		var feeds [][]detector.Detection
		for w := range uint64(2) {
			s, err := NewDynamoDB(api, table)
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, newCorrelator(t, s, nil))
			feeds = append(feeds, slices.Concat(arrivals(ds, round*2+w, "shuffle")...))
		}
		// Every replica gets every event (the shorter feed wraps around:
		// more redeliveries).
		n := max(len(feeds[0]), len(feeds[1]))
		raised := feedConcurrently(t, cs, "chain", n, func(w, i int) detector.Detection { return feeds[w][i%len(feeds[w])] })
		if ks := incidentKeys(raised); len(ks) != 1 {
			t.Errorf("round %d: chain incident alert keys %v, want exactly 1", round, ks)
		}
		for _, d := range raised {
			steps := map[string]bool{}
			for _, e := range d.Correlated {
				steps[e.Rule] = true
			}
			if len(steps) != 3 {
				t.Errorf("round %d: alert %s names steps %v, want a, b and c", round, d.Key(), steps)
			}
		}
	}
}

// TestKeyPrefixRegistered: the correlation keys use the prefix package
// statetable registers for this package, so no other owner of the table
// can write over them.
func TestKeyPrefixRegistered(t *testing.T) {
	if KeyPrefix != statetable.PrefixCorrelate || statetable.Prefixes[KeyPrefix] != "detector/correlate" {
		t.Fatalf("KeyPrefix %q, registered %q for %q", KeyPrefix, statetable.PrefixCorrelate, statetable.Prefixes[KeyPrefix])
	}
}
