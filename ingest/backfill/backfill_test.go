package backfill_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"golang.org/x/time/rate"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/lookup"
	"github.com/rootwatch/rootwatch/ingest/lookup/lookuptest"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

type recorder struct {
	mu   sync.Mutex
	dets []detector.Detection
	fail error
}

func (r *recorder) Deliver(_ context.Context, ds []detector.Detection) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.dets = append(r.dets, ds...)
	return nil
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.dets {
		out = append(out, d.Region+"/"+d.EventID)
	}
	slices.Sort(out)
	return out
}

func pipeline(t *testing.T, d ingest.Deliverer) *ingest.Pipeline {
	t.Helper()
	eng := trailtest.BuiltinEngine(t)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: d, Opener: s3object.NewOpener(mototest.FakeS3(t), 0)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func clients(t *testing.T, url string) func(string) lookup.API {
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", url)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	return func(region string) lookup.API {
		return cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = region })
	}
}

var (
	start = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	end   = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

// TestLookupTwoRegions reads the lookup fixture in two regions through the
// real pipeline and built-in rules: every root event of the window is
// detected once per region (the root StopLogging found by two lookups
// too), alice's DeleteTrail as trail tampering, nothing outside the window
// and no other activity by other users.
func TestLookupTwoRegions(t *testing.T) {
	srv := lookuptest.New(t, "../lookup/testdata/events.json")
	rec := &recorder{}
	var last backfill.Progress
	st, err := backfill.Lookup(context.Background(), backfill.LookupConfig{
		Client: clients(t, srv.URL), Regions: []string{"us-east-1", "eu-west-1"}, Start: start, End: end,
		Rate: rate.Inf, Progress: func(p backfill.Progress) { last = p },
		OnError: func(region, id string, err error) { t.Errorf("%s %s: %v", region, id, err) },
	}, pipeline(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range []string{"evt-0001", "evt-0002", "evt-0003", "evt-0004", "evt-0005", "evt-0006", "evt-0007",
		"evt-0008", "evt-0009", "evt-0010", "evt-0011", "evt-0012", "evt-0020"} {
		// The fixture's records say us-east-1 whatever region served them.
		want = append(want, "us-east-1/"+id, "us-east-1/"+id)
	}
	// Trail tampering: root's StopLogging (also a root API call) and
	// alice's DeleteTrail, once per region.
	want = append(want, "us-east-1/evt-0020", "us-east-1/evt-0020", "us-east-1/evt-0021", "us-east-1/evt-0021")
	slices.Sort(want)
	if got := rec.keys(); !slices.Equal(got, want) {
		t.Errorf("detections %v\nwant %v", got, want)
	}
	if st.Events != 28 || st.Duplicates != 2 || st.Detections != 30 || st.Invalid != 0 || st.Done != 1 || last.Done != 1 {
		t.Errorf("stats %+v (last progress %+v)", st, last)
	}
}

// fakeAPI answers every LookupEvents with the same events, once.
type fakeAPI struct{ events []types.Event }

func (f *fakeAPI) LookupEvents(_ context.Context, in *cloudtrail.LookupEventsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error) {
	if in.LookupAttributes[0].AttributeKey != types.LookupAttributeKeyUsername {
		return &cloudtrail.LookupEventsOutput{}, nil
	}
	return &cloudtrail.LookupEventsOutput{Events: f.events}, nil
}

// TestLookupInvalidEvents: CloudTrailEvents that are not one CloudTrail
// record are reported and counted, and the backfill goes on; a delivery
// failure stops it.
func TestLookupInvalidEvents(t *testing.T) {
	good := `{"eventVersion":"1.09","userIdentity":{"type":"Root","accountId":"123456789012","arn":"arn:aws:iam::123456789012:root"},"eventTime":"2026-11-30T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","eventID":"good","eventType":"AwsApiCall","recipientAccountId":"123456789012"}`
	api := &fakeAPI{events: []types.Event{
		{EventId: aws.String("wrapper"), CloudTrailEvent: aws.String(`{"hello":"world"}`)},
		{EventId: aws.String("empty"), CloudTrailEvent: aws.String(``)},
		{EventId: aws.String("broken"), CloudTrailEvent: aws.String(`{"eventVersion":`)},
		{EventId: aws.String("good"), CloudTrailEvent: aws.String(good)},
	}}
	cfg := backfill.LookupConfig{Client: func(string) lookup.API { return api }, Regions: []string{"us-east-1"},
		Start: start, End: end, Rate: rate.Inf}
	var bad []string
	var mu sync.Mutex
	cfg.OnError = func(_, id string, _ error) { mu.Lock(); bad = append(bad, id); mu.Unlock() }
	rec := &recorder{}
	st, err := backfill.Lookup(context.Background(), cfg, pipeline(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	if st.Invalid != 3 || st.Detections != 1 || !slices.Equal(bad, []string{"wrapper", "empty", "broken"}) {
		t.Errorf("stats %+v, invalid %v", st, bad)
	}

	boom := errors.New("sink down")
	cfg.OnError = nil
	_, err = backfill.Lookup(context.Background(), cfg, pipeline(t, &recorder{fail: boom}))
	if !errors.Is(err, boom) || !ingest.IsDeliveryError(err) {
		t.Errorf("err %v, want the delivery failure", err)
	}
}

func TestWindow(t *testing.T) {
	at := func(s string) detector.Detection {
		d := detector.Detection{EventID: s}
		if s != "none" {
			d.EventTime, _ = time.Parse(time.RFC3339, s)
		}
		return d
	}
	rec := &recorder{}
	w := &backfill.Window{Next: rec, Start: start, End: end}
	in := []detector.Detection{at("2026-11-29T23:59:59Z"), at("2026-11-30T00:00:00Z"), at("2026-11-30T12:00:00Z"),
		at("2026-12-01T00:00:00Z"), at("2026-12-01T00:00:01Z"), at("none")}
	if err := w.Deliver(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range rec.dets {
		got = append(got, d.EventID)
	}
	want := []string{"2026-11-30T00:00:00Z", "2026-11-30T12:00:00Z", "2026-12-01T00:00:00Z", "none"}
	if !slices.Equal(got, want) || w.Dropped() != 2 {
		t.Errorf("kept %v (dropped %d), want %v", got, w.Dropped(), want)
	}
	if err := w.Deliver(context.Background(), in[:1]); err != nil || len(rec.dets) != 4 {
		t.Errorf("all outside: err %v, %d delivered", err, len(rec.dets))
	}
}
