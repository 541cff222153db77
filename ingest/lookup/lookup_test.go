package lookup_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"golang.org/x/time/rate"

	"github.com/rootwatch/rootwatch/ingest/lookup"
	"github.com/rootwatch/rootwatch/ingest/lookup/lookuptest"
)

var (
	winStart = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	winEnd   = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

// client returns a real CloudTrail client reaching srv through the standard
// per-service endpoint variable, as the service's configuration would.
func client(t *testing.T, srv *lookuptest.Server) *cloudtrail.Client {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", srv.URL)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	return cloudtrail.NewFromConfig(cfg)
}

func fast() *rate.Limiter { return rate.NewLimiter(rate.Inf, 1) }

func collect(t *testing.T, cfg lookup.Config) ([]lookup.Event, lookup.Stats, error) {
	t.Helper()
	var evs []lookup.Event
	st, err := lookup.Read(context.Background(), cfg, func(_ context.Context, ev lookup.Event) error {
		evs = append(evs, ev)
		return nil
	})
	return evs, st, err
}

func ids(evs []lookup.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

func TestAttributesOnePerEventName(t *testing.T) {
	attrs := lookup.Attributes()
	if attrs[0] != (lookup.Attribute{Key: types.LookupAttributeKeyUsername, Value: "root"}) {
		t.Errorf("first attribute %v, want Username=root", attrs[0])
	}
	seen := map[string]bool{}
	for _, a := range attrs[1:] {
		if a.Key != types.LookupAttributeKeyEventName || seen[a.Value] {
			t.Errorf("attribute %v: want distinct EventName lookups", a)
		}
		seen[a.Value] = true
	}
	for _, n := range []string{"AssumeRoot", "StopLogging", "DeleteTrail", "PutBucketPolicy", "PurgeQueue", "RemoveTargets", "ScheduleKeyDeletion"} {
		if !seen[n] {
			t.Errorf("no EventName lookup for %s", n)
		}
	}
}

// TestReadPagesAndDedupes reads the fixture's history with every attribute
// through pages of 5: NextToken is followed, each request carries exactly
// one attribute and the window, and the root StopLogging found by both
// Username=root and EventName=StopLogging is returned once.
func TestReadPagesAndDedupes(t *testing.T) {
	srv := lookuptest.New(t, "testdata/events.json")
	var progress []lookup.Progress
	evs, st, err := collect(t, lookup.Config{API: client(t, srv), Region: "us-east-1", Start: winStart, End: winEnd,
		Limiter: fast(), PageSize: 5, Progress: func(p lookup.Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"evt-0001", "evt-0002", "evt-0003", "evt-0004", "evt-0005", "evt-0006", "evt-0007", "evt-0008",
		"evt-0009", "evt-0010", "evt-0011", "evt-0012", "evt-0020", "evt-0021"}
	if got := ids(evs); !slices.Equal(got, want) {
		t.Errorf("events %v\nwant %v", got, want)
	}
	nAttr := len(lookup.Attributes())
	// Username=root: 13 events in pages of 5 = 3 pages; one page for every other attribute.
	if st.Pages != 3+nAttr-1 || st.Requests != st.Pages || st.Duplicates != 1 || st.Events != len(want) {
		t.Errorf("stats %+v, want %d pages, 1 duplicate", st, 3+nAttr-1)
	}
	reqs, _ := srv.Requests()
	tokens := 0
	for _, r := range reqs {
		if len(r.LookupAttributes) != 1 || r.StartTime == nil || r.EndTime == nil || r.MaxResults != 5 {
			t.Errorf("request %+v: want one attribute, the window and MaxResults 5", r)
		}
		if r.StartTime != nil && int64(*r.StartTime) != winStart.Unix() {
			t.Errorf("StartTime %v, want %d", *r.StartTime, winStart.Unix())
		}
		if r.NextToken != "" {
			tokens++
		}
	}
	if tokens != 2 {
		t.Errorf("%d requests with NextToken, want 2", tokens)
	}
	for _, e := range evs {
		if e.Time.IsZero() || e.Region != "us-east-1" || !json.Valid(e.Raw) {
			t.Errorf("event %s: time %v region %q valid JSON %v", e.ID, e.Time, e.Region, json.Valid(e.Raw))
		}
	}
	if last := progress[len(progress)-1]; last.Done != 1 || last.Pages != st.Pages {
		t.Errorf("last progress %+v, want done 1", last)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Done < progress[i-1].Done {
			t.Errorf("progress went back: %v then %v", progress[i-1].Done, progress[i].Done)
		}
	}
}

// TestReadThrottling: a 400 ThrottlingException is retried with backoff
// by the reader (the SDK's retryer is off for these calls: the server sees
// every attempt), up to MaxAttempts.
func TestReadThrottling(t *testing.T) {
	attrs := []lookup.Attribute{{Key: types.LookupAttributeKeyUsername, Value: "root"}}
	tests := []struct {
		name          string
		throttle      int
		wantErr       bool
		wantThrottled int
		wantRequests  int
	}{
		{"throttled twice then success", 2, false, 2, 3},
		{"throttled past MaxAttempts", 10, true, 3, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := lookuptest.New(t, "testdata/events.json")
			srv.Throttle(tc.throttle)
			evs, st, err := collect(t, lookup.Config{API: client(t, srv), Region: "us-east-1", Start: winStart, End: winEnd,
				Attributes: attrs, Limiter: fast(), MaxAttempts: 4, BaseBackoff: 10 * time.Millisecond})
			var le *lookup.Error
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil && (!errors.As(err, &le) || !lookup.IsThrottle(err) || le.Attempts != 4) {
				t.Errorf("err %v: want a *lookup.Error after 4 attempts wrapping a throttle", err)
			}
			// A transient failure other than throttling (a connection
			// reset on a loaded machine) is retried too and counted as
			// Retried: it adds one request, never a hidden one.
			if st.Throttled != tc.wantThrottled || st.Requests != tc.wantRequests+st.Retried {
				t.Errorf("stats %+v, want %d throttled, %d requests (+%d other retries)", st, tc.wantThrottled, tc.wantRequests, st.Retried)
			}
			if reqs, _ := srv.Requests(); len(reqs) != st.Requests {
				t.Errorf("server saw %d requests, the reader counted %d (no hidden SDK retries)", len(reqs), st.Requests)
			}
			if !tc.wantErr && len(evs) != 13 {
				t.Errorf("%d events, want 13", len(evs))
			}
		})
	}
}

// TestReadRateLimited: with the default limiter (2 requests/s, burst 1)
// requests are at least ~500 ms apart.
func TestReadRateLimited(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~2s")
	}
	srv := lookuptest.New(t, "testdata/events.json")
	attrs := lookup.Attributes()[:5]
	start := time.Now()
	_, st, err := collect(t, lookup.Config{API: client(t, srv), Region: "us-east-1", Start: winStart, End: winEnd,
		Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	_, times := srv.Requests()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 450*time.Millisecond {
			t.Errorf("requests %d and %d %v apart, want >= 500ms", i-1, i, gap)
		}
	}
	t.Logf("%d pages in %v: %.2f pages/s", st.Pages, elapsed.Round(time.Millisecond), float64(st.Pages)/elapsed.Seconds())
}

// TestReadStopsOnCallbackError: fn's error is returned unchanged.
func TestReadStopsOnCallbackError(t *testing.T) {
	srv := lookuptest.New(t, "testdata/events.json")
	boom := errors.New("boom")
	n := 0
	_, err := lookup.Read(context.Background(), lookup.Config{API: client(t, srv), Start: winStart, End: winEnd, Limiter: fast()},
		func(context.Context, lookup.Event) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("err %v after %d events, want boom after 1", err, n)
	}
}

func TestReadRejectsBadWindow(t *testing.T) {
	srv := lookuptest.New(t, "testdata/events.json")
	_, err := lookup.Read(context.Background(), lookup.Config{API: client(t, srv), Start: winEnd, End: winStart},
		func(context.Context, lookup.Event) error { return nil })
	if err == nil {
		t.Error("start after end accepted")
	}
}
