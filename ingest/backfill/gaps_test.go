package backfill_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/ingest/s3scan"
	"github.com/rootwatch/rootwatch/ingest/watchdog"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/trailtest"
	"github.com/rootwatch/rootwatch/notify"
)

// sentSink is a notify.Sink that records the alerts sent.
type sentSink struct {
	mu   sync.Mutex
	sent []string // "RULE EVENTID"
}

func (s *sentSink) Name() string { return "slack" }

func (s *sentSink) Send(_ context.Context, a *notify.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, a.Rule+" "+a.EventID)
	return nil
}

// events returns the event ids alerted (the watchdog's left out) and the
// (rule, event) alerts sent more than once.
func (s *sentSink) events() (ids, repeated []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, x := range s.sent {
		rule, id, _ := strings.Cut(x, " ")
		if rule == watchdog.RuleLogGap {
			continue
		}
		if seen[x] {
			repeated = append(repeated, x)
		}
		seen[x] = true
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, repeated
}

func (s *sentSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// wdClock is the watchdog's clock.
type wdClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wdClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *wdClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// TestGapFillOnClosed: the OnClosed -> S3 path on moto. The pipeline reads
// one object through its queue notification, the pair goes quiet (the
// watchdog alerts the gap), objects land in S3 whose notifications never
// reach the queue, then one new object is notified: the gap closes, the
// GapFiller lists the pair's objects of the window from the bucket and
// trail prefix the watchdog recorded, the missed objects' root activity
// is alerted once, the objects already read are not alerted again (the
// dispatcher's dedupe ledger), another region's and the window's outside
// are not read, and the gap reported again is not filled again.
func TestGapFillOnClosed(t *testing.T) {
	srv := mototest.Require(t)
	c := srv.S3(t)
	tmpl := trailtest.Template("root_api_call")
	eng := trailtest.BuiltinEngine(t)
	tests := []struct {
		name, prefix, layout string // layout: the part between AWSLogs/ and the account
	}{
		{name: "account trail", layout: ""},
		{name: "organization trail under a prefix", prefix: "trails/org/", layout: "o-abc123def4/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			bucket := mototest.Name("gapfill")
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			const account = "111122223333"
			t0 := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Hour)
			key := func(region string, at time.Time, id string) string {
				return fmt.Sprintf("%sAWSLogs/%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", tt.prefix, tt.layout, account,
					region, at.Format("2006/01/02"), account, region, at.Format("20060102T1504Z"), id)
			}
			put := func(region string, at time.Time, id string) string {
				k := key(region, at, id)
				rec := strings.NewReplacer("EVENT_TIME", at.Add(-4*time.Minute).Format(time.RFC3339), "EVENT_ID", id).Replace(tmpl)
				b := trailtest.LogObject(rec)
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(b)}); err != nil {
					t.Fatal(err)
				}
				return k
			}

			sink := &sentSink{}
			disp, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: sink}}, Logger: zaptest.NewLogger(t).Named("notify")})
			if err != nil {
				t.Fatal(err)
			}
			clock := &wdClock{t: t0}
			var filler *backfill.GapFiller
			wd, err := watchdog.New(watchdog.Config{StaleAfter: 10 * time.Minute, Deliverer: disp, Now: clock.now,
				OnClosed: func(ctx context.Context, g watchdog.Gap) { filler.Closed(ctx, g) }})
			if err != nil {
				t.Fatal(err)
			}
			pipe, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: disp, Opener: s3object.NewOpener(c, 0), FlowObserver: wd})
			if err != nil {
				t.Fatal(err)
			}
			type fill struct {
				g      watchdog.Gap
				result string
				st     s3scan.Stats
				err    error
			}
			fills := make(chan fill, 4)
			reg := prometheus.NewRegistry()
			filler, err = backfill.NewGapFiller(backfill.GapFillConfig{API: c, Processor: pipe, Registerer: reg,
				Logger: zaptest.NewLogger(t).Named("gapfill"),
				Done:   func(g watchdog.Gap, result string, st s3scan.Stats, err error) { fills <- fill{g, result, st, err} }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(filler.Stop)
			notifyQueue := func(k string) {
				body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put",`+
					`"s3":{"bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":100}}}]}`, bucket, bucket, k)
				if out := pipe.Handle(ctx, queue.Message{ID: k, Body: []byte(body), ReceiveCount: 1}); out != queue.Ack {
					t.Fatalf("%s: outcome %v", k, out)
				}
			}

			// Read through the queue, then quiet: the gap is alerted.
			clock.set(t0.Add(time.Minute))
			notifyQueue(put("us-east-1", t0, "read-before"))
			wd.Check(ctx)
			clock.set(t0.Add(12 * time.Minute))
			wd.Check(ctx)
			if len(wd.Gaps()) != 1 {
				t.Fatalf("gaps %+v, want one", wd.Gaps())
			}
			// Written during the gap; the notifications are lost.
			put("us-east-1", t0.Add(5*time.Minute), "missed-1")
			put("us-east-1", t0.Add(25*time.Minute), "missed-2")
			put("us-west-2", t0.Add(25*time.Minute), "other-region")
			put("us-east-1", t0.Add(-40*time.Minute), "long-before")
			// Logs resume.
			clock.set(t0.Add(40 * time.Minute))
			notifyQueue(put("us-east-1", t0.Add(39*time.Minute), "resumed"))
			wd.Check(ctx)

			var got fill
			select {
			case got = <-fills:
			case <-time.After(30 * time.Second):
				t.Fatal("no gap fill")
			}
			if got.result != backfill.GapFillOK || got.err != nil || got.g.Bucket != bucket || got.g.Prefix != tt.prefix {
				t.Fatalf("fill %s (%v) of s3://%s/%s, want ok of s3://%s/%s", got.result, got.err, got.g.Bucket, got.g.Prefix, bucket, tt.prefix)
			}
			if got.st.Objects != 4 {
				t.Errorf("fill read %d objects (%+v), want 4: read-before, missed-1, missed-2, resumed", got.st.Objects, got.st)
			}
			ids, repeated := sink.events()
			if want := []string{"missed-1", "missed-2", "read-before", "resumed"}; !slices.Equal(ids, want) || len(repeated) > 0 {
				t.Errorf("alerted events %v (repeated %v), want %v each once", ids, repeated, want)
			}
			sent := sink.count()

			// Reported again (another replica's Store, a second OnClosed):
			// not filled again.
			filler.Closed(ctx, got.g)
			if v := fillCount(t, reg, backfill.GapFillDuplicate); v != 1 {
				t.Errorf("duplicate fills %v, want 1", v)
			}
			select {
			case f := <-fills:
				t.Errorf("second fill %+v", f)
			case <-time.After(200 * time.Millisecond):
			}
			if n := sink.count(); n != sent {
				t.Errorf("alerts after the duplicate: %d, want %d", n, sent)
			}
			if v := fillCount(t, reg, backfill.GapFillOK); v != 1 {
				t.Errorf("ok fills %v, want 1", v)
			}
		})
	}
}

// fillCount returns rootwatch_gap_fills_total{result} from reg.
func fillCount(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rootwatch_gap_fills_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no rootwatch_gap_fills_total{result=%q}", result)
	return 0
}

// blockingProcessor holds every object until its context ends, counting
// how many it holds at once.
type blockingProcessor struct {
	mu        sync.Mutex
	cur, peak int
}

func (b *blockingProcessor) ProcessObject(ctx context.Context, _ envelope.ObjectRef) (ingest.ObjectStats, error) {
	b.mu.Lock()
	b.cur++
	b.peak = max(b.peak, b.cur)
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	b.cur--
	b.mu.Unlock()
	return ingest.ObjectStats{}, ctx.Err()
}

// TestGapFillerBounds: fills run at most Concurrency at once, each ends at
// Timeout, Stop cancels those running and waiting, a gap without a known
// bucket is skipped; every result is counted.
func TestGapFillerBounds(t *testing.T) {
	srv := mototest.Require(t)
	c := srv.S3(t)
	ctx := t.Context()
	bucket := mototest.Name("bounds")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	accounts := []string{"111111111111", "222222222222", "333333333333"}
	for _, a := range accounts {
		k := fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/%s/%s_CloudTrail_us-east-1_%s_x.json.gz", a, t0.Format("2006/01/02"), a, t0.Format("20060102T1504Z"))
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	gap := func(account, bucket string) watchdog.Gap {
		return watchdog.Gap{Pair: watchdog.Pair{Account: account, Region: "us-east-1"}, Episode: "log-gap/" + account,
			Since: t0.Add(-time.Minute), Resumed: t0.Add(10 * time.Minute), Bucket: bucket}
	}
	tests := []struct {
		name    string
		timeout time.Duration
		gaps    []watchdog.Gap
		stop    bool // Stop while the fills run
		want    map[string]float64
	}{
		{name: "timeout, one at a time", timeout: 300 * time.Millisecond,
			gaps: []watchdog.Gap{gap(accounts[0], bucket), gap(accounts[1], bucket), gap(accounts[2], bucket)},
			want: map[string]float64{backfill.GapFillTimeout: 3}},
		{name: "stop cancels running and waiting", timeout: time.Minute, stop: true,
			gaps: []watchdog.Gap{gap(accounts[0], bucket), gap(accounts[1], bucket), gap(accounts[2], bucket)},
			want: map[string]float64{backfill.GapFillCancelled: 3}},
		{name: "no bucket known", timeout: time.Minute, gaps: []watchdog.Gap{gap(accounts[0], "")},
			want: map[string]float64{backfill.GapFillSkipped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := &blockingProcessor{}
			reg := prometheus.NewRegistry()
			done := make(chan string, len(tt.gaps))
			f, err := backfill.NewGapFiller(backfill.GapFillConfig{API: c, Processor: proc, Concurrency: 1, Timeout: tt.timeout,
				Registerer: reg, Logger: zaptest.NewLogger(t),
				Done: func(_ watchdog.Gap, result string, _ s3scan.Stats, _ error) { done <- result }})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range tt.gaps {
				f.Closed(ctx, g)
			}
			if tt.stop {
				deadline := time.Now().Add(10 * time.Second)
				for proc.peakNow() == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				for range len(tt.gaps) - int(tt.want[backfill.GapFillSkipped]) {
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						t.Fatal("fills did not end")
					}
				}
			}
			f.Stop()
			for r, n := range tt.want {
				if v := fillCount(t, reg, r); v != n {
					t.Errorf("%s fills %v, want %v", r, v, n)
				}
			}
			if proc.peak > 1 {
				t.Errorf("%d fills at once, want at most 1", proc.peak)
			}
			f.Closed(ctx, gap(accounts[0], bucket))
			if v := fillCount(t, reg, backfill.GapFillDuplicate); v != 0 {
				t.Errorf("after Stop: %v duplicates, want the gap counted cancelled", v)
			}
		})
	}
}

func (b *blockingProcessor) peakNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// TestGapFills: the watchdog's hook is nil when gap fill is off; gaps
// closed before Start are dropped, those after it are filled by the
// GapFiller Start built; Stop before Start does nothing.
func TestGapFills(t *testing.T) {
	var off backfill.GapFills
	if off.OnClosed(false) != nil {
		t.Fatal("OnClosed(false) is not nil")
	}
	off.Stop()

	srv := mototest.Require(t)
	c := srv.S3(t)
	bucket := mototest.Name("fills")
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	var g backfill.GapFills
	hook := g.OnClosed(true)
	gap := watchdog.Gap{Pair: watchdog.Pair{Account: "111122223333", Region: "us-east-1"}, Episode: "log-gap/early",
		Since: time.Now().Add(-time.Hour), Resumed: time.Now(), Bucket: bucket}
	hook(t.Context(), gap) // before Start: dropped, no panic
	done := make(chan string, 2)
	if err := g.Start(backfill.GapFillConfig{API: c, Processor: &blockingProcessor{}, Logger: zaptest.NewLogger(t),
		Done: func(g watchdog.Gap, result string, _ s3scan.Stats, _ error) { done <- g.Episode + " " + result }}); err != nil {
		t.Fatal(err)
	}
	gap.Episode = "log-gap/late"
	hook(t.Context(), gap)
	select {
	case got := <-done:
		if got != "log-gap/late "+backfill.GapFillOK { // an empty window of the bucket
			t.Fatalf("fill %q, want the late gap filled", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the gap closed after Start was not handled")
	}
	g.Stop()
	if err := g.Start(backfill.GapFillConfig{}); err == nil {
		t.Fatal("Start without API and Processor succeeded")
	}
}
