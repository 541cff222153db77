package trailhealth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go"

	"github.com/rootwatch/rootwatch/detector"
)

// fakeAPI answers the three calls from its fields; an error field set
// makes that call fail.
type fakeAPI struct {
	trail                                *types.Trail
	status                               *cloudtrail.GetTrailStatusOutput
	selectors                            *cloudtrail.GetEventSelectorsOutput
	errDescribe, errStatus, errSelectors error
	// shadow makes the trail answer DescribeTrails as AWS answers for a
	// trail homed in another region: by ARN or in the full listing with
	// shadow trails, never by name.
	shadow bool
}

func (f *fakeAPI) DescribeTrails(_ context.Context, in *cloudtrail.DescribeTrailsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error) {
	if f.errDescribe != nil {
		return nil, f.errDescribe
	}
	out := &cloudtrail.DescribeTrailsOutput{}
	if f.shadow && (!aws.ToBool(in.IncludeShadowTrails) || len(in.TrailNameList) > 0 && !strings.HasPrefix(in.TrailNameList[0], "arn:")) {
		return out, nil
	}
	if f.trail != nil {
		out.TrailList = []types.Trail{*f.trail}
	}
	return out, nil
}

func (f *fakeAPI) GetTrailStatus(context.Context, *cloudtrail.GetTrailStatusInput, ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error) {
	if f.errStatus != nil {
		return nil, f.errStatus
	}
	s := *f.status
	return &s, nil
}

func (f *fakeAPI) GetEventSelectors(context.Context, *cloudtrail.GetEventSelectorsInput, ...func(*cloudtrail.Options)) (*cloudtrail.GetEventSelectorsOutput, error) {
	if f.errSelectors != nil {
		return nil, f.errSelectors
	}
	return f.selectors, nil
}

const fakeARN = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org"

func healthyFake(now time.Time) *fakeAPI {
	return &fakeAPI{
		trail: &types.Trail{Name: aws.String("org"), TrailARN: aws.String(fakeARN), HomeRegion: aws.String("eu-west-1"),
			IsMultiRegionTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true), LogFileValidationEnabled: aws.Bool(true)},
		status:    &cloudtrail.GetTrailStatusOutput{IsLogging: aws.Bool(true), LatestDeliveryTime: aws.Time(now.Add(-time.Minute))},
		selectors: &cloudtrail.GetEventSelectorsOutput{EventSelectors: []types.EventSelector{{ReadWriteType: types.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true)}}},
	}
}

// flakyDeliverer fails while fail is set, and records what it accepted.
type flakyDeliverer struct {
	fail bool
	got  []detector.Detection
}

func (d *flakyDeliverer) Deliver(_ context.Context, ds []detector.Detection) error {
	if d.fail {
		return errors.New("sink down")
	}
	d.got = append(d.got, ds...)
	return nil
}

// summarize renders detections as "level code" or "resolved code" lines.
func summarize(ds []detector.Detection) []string {
	var out []string
	for _, d := range ds {
		if d.Resolved {
			out = append(out, "resolved "+d.EventID[:strings.LastIndexByte(d.EventID, '/')])
			continue
		}
		out = append(out, d.Level.String()+" "+d.ErrorCode)
	}
	return out
}

var denied = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: cloudtrail:GetTrailStatus"}
var throttled = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}

// TestCheckerEpisodes drives a Checker through sequences of trail states
// (one step = one check) and compares what it delivered.
func TestCheckerEpisodes(t *testing.T) {
	stop := func(f *fakeAPI) {
		f.status.IsLogging = aws.Bool(false)
		f.status.StopLoggingTime = aws.Time(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	}
	start := func(f *fakeAPI) { f.status.IsLogging = aws.Bool(true); f.status.StopLoggingTime = nil }
	deliveryErr := func(f *fakeAPI) { f.status.LatestDeliveryError = aws.String("NoSuchBucket") }
	deliveryOK := func(f *fakeAPI) { f.status.LatestDeliveryError = nil }
	noValidation := func(f *fakeAPI) { f.trail.LogFileValidationEnabled = aws.Bool(false) }
	validation := func(f *fakeAPI) { f.trail.LogFileValidationEnabled = aws.Bool(true) }
	readOnly := func(f *fakeAPI) {
		f.selectors = &cloudtrail.GetEventSelectorsOutput{EventSelectors: []types.EventSelector{{ReadWriteType: types.ReadWriteTypeReadOnly, IncludeManagementEvents: aws.Bool(true)}}}
	}
	allSelectors := func(f *fakeAPI) {
		f.selectors = &cloudtrail.GetEventSelectorsOutput{EventSelectors: []types.EventSelector{{ReadWriteType: types.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true)}}}
	}
	denyStatus := func(f *fakeAPI) { f.errStatus = denied }
	denySelectors := func(f *fakeAPI) { f.errSelectors = denied }
	allow := func(f *fakeAPI) { f.errStatus, f.errSelectors, f.errDescribe = nil, nil, nil }
	throttle := func(f *fakeAPI) { f.errDescribe = throttled }
	gone := func(f *fakeAPI) {
		f.trail = nil
		f.errStatus = &types.TrailNotFoundException{Message: aws.String("gone")}
	}
	nothing := func(*fakeAPI) {}

	tests := []struct {
		name  string
		steps []func(*fakeAPI)
		want  []string
	}{
		{"healthy: nothing", []func(*fakeAPI){nothing, nothing}, nil},
		{"stop, stay stopped, start: one alert, one all-clear",
			[]func(*fakeAPI){stop, nothing, nothing, start, nothing},
			[]string{"critical TrailNotLogging", "resolved trail-unhealthy/org/TrailNotLogging"}},
		{"delivery error, then logging stops too: the high alert is superseded by a critical one",
			[]func(*fakeAPI){deliveryErr, stop, nothing, start, deliveryOK},
			[]string{"high TrailDeliveryError",
				"resolved trail-unhealthy/org/TrailDeliveryError", "critical TrailDeliveryError,TrailNotLogging",
				"resolved trail-unhealthy/org/TrailDeliveryError,TrailNotLogging", "high TrailDeliveryError",
				"resolved trail-unhealthy/org/TrailDeliveryError"}},
		{"log file validation turned off: medium, resolved when back on",
			[]func(*fakeAPI){noValidation, nothing, validation},
			[]string{"medium TrailLogFileValidationOff", "resolved trail-unhealthy/org/TrailLogFileValidationOff"}},
		{"stopped, selectors narrowed, selectors restored: back to the first set, still a new alert (not swallowed by dedupe)",
			[]func(*fakeAPI){stop, readOnly, allSelectors, start},
			[]string{"critical TrailNotLogging",
				"resolved trail-unhealthy/org/TrailNotLogging", "critical TrailManagementEventsNotSelected,TrailNotLogging",
				"resolved trail-unhealthy/org/TrailManagementEventsNotSelected,TrailNotLogging", "critical TrailNotLogging",
				"resolved trail-unhealthy/org/TrailNotLogging/1796115600000"}},
		{"read-only selectors: high",
			[]func(*fakeAPI){readOnly, nothing},
			[]string{"high TrailManagementEventsNotSelected"}},
		{"GetTrailStatus denied: reported once, resolved when allowed",
			[]func(*fakeAPI){denyStatus, nothing, nothing, allow, nothing},
			[]string{"high TrailCheckFailed", "resolved trail-check-failed/org"}},
		{"stopped, then GetTrailStatus denied: the critical alert stays open (unknown is not healthy)",
			[]func(*fakeAPI){stop, denyStatus, nothing, allow, start},
			[]string{"critical TrailNotLogging", "high TrailCheckFailed", "resolved trail-check-failed/org",
				"resolved trail-unhealthy/org/TrailNotLogging"}},
		{"selectors denied while stopped: other problems still alert",
			[]func(*fakeAPI){denySelectors, stop},
			[]string{"high TrailCheckFailed", "critical TrailNotLogging"}},
		{"throttled: alerted only after three checks in a row",
			[]func(*fakeAPI){throttle, throttle, allow, throttle, throttle, throttle, throttle, allow},
			[]string{"high TrailCheckFailed", "resolved trail-check-failed/org"}},
		{"trail deleted: critical",
			[]func(*fakeAPI){gone, nothing},
			[]string{"critical TrailMissing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			api := healthyFake(now)
			d := &flakyDeliverer{}
			c, err := New(Config{API: api, Trails: []string{"org"}, Deliverer: d, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			c.Check(t.Context())
			for _, step := range tt.steps {
				step(api)
				now = now.Add(time.Minute)
				api.status.LatestDeliveryTime = aws.Time(now.Add(-time.Minute))
				c.Check(t.Context())
			}
			if got := summarize(d.got); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("delivered:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			ids := map[string]bool{}
			for _, det := range d.got {
				if ids[det.Key()] {
					t.Errorf("key %s delivered twice: the ledger would swallow the second", det.Key())
				}
				ids[det.Key()] = true
			}
			for _, det := range d.got {
				if det.Rule != Rule || !det.IsPipeline() || det.AccountID != "111122223333" || det.Region != "eu-west-1" || det.Source != fakeARN {
					t.Errorf("detection %+v", det)
				}
			}
		})
	}
}

// TestCheckerRedeliversAfterSinkFailure: an alert the Deliverer refused is
// handed again at the next check; its all-clear follows once delivered.
func TestCheckerRedeliversAfterSinkFailure(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	api := healthyFake(now)
	d := &flakyDeliverer{fail: true}
	c, err := New(Config{API: api, Trails: []string{fakeARN}, Deliverer: d, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	api.status.IsLogging = aws.Bool(false)
	c.Check(t.Context())
	c.Check(t.Context())
	if len(d.got) != 0 {
		t.Fatalf("delivered %v while failing", d.got)
	}
	d.fail = false
	c.Check(t.Context())
	api.status.IsLogging = aws.Bool(true)
	d.fail = true
	c.Check(t.Context()) // the all-clear fails once
	d.fail = false
	c.Check(t.Context())
	c.Check(t.Context())
	got := summarize(d.got)
	want := []string{"critical TrailNotLogging", "resolved trail-unhealthy/org/TrailNotLogging"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

// TestCheckerEpisodeIDAnchoredOnStopTime: two checkers (two replicas) that
// see the same stopped trail at different times raise the same event id,
// so the shared dedupe ledger sends the alert once.
func TestCheckerEpisodeIDAnchoredOnStopTime(t *testing.T) {
	var ids []string
	for i := range 2 {
		now := time.Date(2026, 12, 1, 10, i, 7, 0, time.UTC)
		api := healthyFake(now)
		api.status.IsLogging = aws.Bool(false)
		api.status.StopLoggingTime = aws.Time(time.Date(2026, 12, 1, 9, 58, 0, 0, time.UTC))
		d := &flakyDeliverer{}
		c, err := New(Config{API: api, Trails: []string{"org"}, Deliverer: d, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		c.Check(t.Context())
		if len(d.got) != 1 {
			t.Fatalf("replica %d delivered %v", i, d.got)
		}
		ids = append(ids, d.got[0].EventID)
		if !d.got[0].EventTime.Equal(*api.status.StopLoggingTime) {
			t.Errorf("event time %s, want the stop time", d.got[0].EventTime)
		}
	}
	if ids[0] != ids[1] {
		t.Errorf("event ids %q differ", ids)
	}
}

func TestNewRejectsBadTrailARN(t *testing.T) {
	_, err := New(Config{API: &fakeAPI{}, Trails: []string{"arn:aws:s3:::bucket"}})
	if err == nil || !strings.Contains(err.Error(), "not a trail ARN") {
		t.Errorf("err = %v", err)
	}
}

// TestCheckerFindsTrailHomedElsewhereByName: a multi-region trail homed in
// another region, configured by name, is found among the shadow trails
// (DescribeTrails by name only sees the current region): it is checked,
// not reported missing.
func TestCheckerFindsTrailHomedElsewhereByName(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	api := healthyFake(now)
	api.shadow = true
	d := &flakyDeliverer{}
	c, err := New(Config{API: api, Trails: []string{"org"}, Deliverer: d, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c.Check(t.Context())
	if len(d.got) != 0 {
		t.Errorf("delivered %v for a healthy trail homed in another region", summarize(d.got))
	}
}
