package attribution

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
)

const (
	grantFile   = "assume-root-s3unlock.json"        // S3UnlockBucketPolicy, key ...ASSUMRT1, 09:40:31
	withinFile  = "member-delete-bucket-policy.json" // DeleteBucketPolicy at 09:41:12
	outsideFile = "member-create-access-key.json"    // CreateAccessKey (denied) at 09:42:05
	unseenFile  = "member-unseen-session.json"       // another session, never granted here
)

// match runs the built-in rules on testdata/file.
func match(t *testing.T, e *engine.Engine, file string) []detector.Detection {
	t.Helper()
	rec, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := e.Match(rec, file, nil)
	// As in the pipeline, the correlator drops hidden helper rules'
	// detections before the linker sees them.
	ds = slices.DeleteFunc(ds, detector.IsHelper)
	if err != nil || len(ds) == 0 {
		t.Fatalf("%s: %d detections, %v", file, len(ds), err)
	}
	return ds
}

func builtin(t *testing.T) *engine.Engine {
	t.Helper()
	rs, err := rules.LoadDir(filepath.Join("..", "rules", "builtin"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func byRule(t *testing.T, ds []detector.Detection, rule string, update bool) *detector.Detection {
	t.Helper()
	for i := range ds {
		if ds[i].Rule == rule && ds[i].LinkUpdate == update {
			return &ds[i]
		}
	}
	t.Fatalf("no %s detection (update %v) in %d", rule, update, len(ds))
	return nil
}

func TestTaskPolicyIntent(t *testing.T) {
	const pfx = "arn:aws:iam::aws:policy/root-task/"
	tests := []struct {
		policy, source, name, want string
	}{
		{pfx + "S3UnlockBucketPolicy", "s3.amazonaws.com", "DeleteBucketPolicy", detector.IntentWithin},
		{pfx + "S3UnlockBucketPolicy", "s3.amazonaws.com", "PutBucketPolicy", detector.IntentWithin},
		{pfx + "S3UnlockBucketPolicy", "s3.amazonaws.com", "ListBuckets", detector.IntentWithin}, // s3:ListAllMyBuckets
		{pfx + "S3UnlockBucketPolicy", "s3.amazonaws.com", "DeleteBucket", detector.IntentOutside},
		{pfx + "S3UnlockBucketPolicy", "iam.amazonaws.com", "DeleteBucketPolicy", detector.IntentOutside}, // source matters
		{pfx + "SQSUnlockQueuePolicy", "sqs.amazonaws.com", "SetQueueAttributes", detector.IntentWithin},
		{pfx + "SQSUnlockQueuePolicy", "sqs.amazonaws.com", "DeleteQueue", detector.IntentOutside},
		{pfx + "IAMDeleteRootUserCredentials", "iam.amazonaws.com", "DeleteLoginProfile", detector.IntentWithin},
		{pfx + "IAMDeleteRootUserCredentials", "iam.amazonaws.com", "DeactivateMFADevice", detector.IntentWithin},
		{pfx + "IAMDeleteRootUserCredentials", "iam.amazonaws.com", "CreateAccessKey", detector.IntentOutside},
		{pfx + "IAMCreateRootUserPassword", "iam.amazonaws.com", "CreateLoginProfile", detector.IntentWithin},
		{pfx + "IAMCreateRootUserPassword", "iam.amazonaws.com", "DeleteLoginProfile", detector.IntentOutside},
		{pfx + "IAMAuditRootUserCredentials", "iam.amazonaws.com", "GetAccountSummary", detector.IntentWithin},
		{pfx + "IAMAuditRootUserCredentials", "iam.amazonaws.com", "DeleteAccessKey", detector.IntentOutside},
		{pfx + "IAMAuditRootUserCredentials", "sts.amazonaws.com", "GetCallerIdentity", detector.IntentWithin}, // needs no permission
		{"arn:aws-cn:iam::aws:policy/root-task/S3UnlockBucketPolicy", "s3.amazonaws.com", "GetBucketPolicy", detector.IntentWithin},
		{pfx + "EC2UnlockEverything", "s3.amazonaws.com", "DeleteBucketPolicy", detector.IntentUnknownPolicy},
		{"arn:aws:iam::111122223333:policy/root-task/S3UnlockBucketPolicy", "s3.amazonaws.com", "DeleteBucketPolicy", detector.IntentUnknownPolicy},
		{"", "s3.amazonaws.com", "DeleteBucketPolicy", detector.IntentUnknownPolicy},
	}
	for _, tt := range tests {
		if got, _ := Judge(tt.policy, tt.source, tt.name); got != tt.want {
			t.Errorf("Judge(%s, %s, %s) = %s, want %s", tt.policy, tt.source, tt.name, got, tt.want)
		}
	}
	for name, tp := range TaskPolicies {
		if tp.Name != name || tp.Purpose == "" || len(tp.Actions) == 0 {
			t.Errorf("task policy %s: %+v", name, tp)
		}
	}
}

func TestParseIssuance(t *testing.T) {
	rec, err := os.ReadFile(filepath.Join("testdata", grantFile))
	if err != nil {
		t.Fatal(err)
	}
	is, ok, err := ParseIssuance(rec)
	want := Issuance{
		AccessKeyID: "ASIAY34FZKBOASSUMRT1", CallerARN: "arn:aws:sts::444455556666:assumed-role/PlatformRootTasks/carol",
		CallerAccountID: "444455556666", SourceIP: "203.0.113.50", Time: time.Date(2026, 11, 20, 9, 40, 31, 0, time.UTC),
		Duration: 15 * time.Minute, TargetPrincipal: "777788889999",
		TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy", EventID: "b98e5376-8372-42c4-8a03-40c7cf609328",
	}
	if err != nil || !ok || is != want {
		t.Fatalf("ParseIssuance = %+v, %v, %v\nwant %+v", is, ok, err, want)
	}
	for _, tt := range []struct {
		name, rec string
		ok        bool
		err       string
		dur       time.Duration
	}{
		{"denied", `{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","errorCode":"AccessDenied","responseElements":{"credentials":{"accessKeyId":"ASIAX"}}}`, false, "", 0},
		{"no credentials", `{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","responseElements":null}`, false, "", 0},
		{"AssumeRole", `{"eventSource":"sts.amazonaws.com","eventName":"AssumeRole","responseElements":{"credentials":{"accessKeyId":"ASIAX"}}}`, false, "", 0},
		{"short duration", `{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","requestParameters":{"durationSeconds":300},"responseElements":{"credentials":{"accessKeyId":"ASIAX"}}}`, true, "", 5 * time.Minute},
		{"duration beyond the maximum", `{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","requestParameters":{"durationSeconds":43200},"responseElements":{"credentials":{"accessKeyId":"ASIAX"}}}`, true, "", 15 * time.Minute},
		{"duration as a string", `{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","requestParameters":{"durationSeconds":"5"},"responseElements":{"credentials":{"accessKeyId":"ASIAX"}}}`, true, "", 15 * time.Minute},
		{"overlong field", `{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","userIdentity":{"arn":"` + strings.Repeat("a", 3000) + `"},"responseElements":{"credentials":{"accessKeyId":"ASIAX"}}}`, false, "3000 bytes long", 0},
		{"not JSON", `{"eventSource":`, false, "parse AssumeRoot record", 0},
	} {
		is, ok, err := ParseIssuance([]byte(tt.rec))
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case ok != tt.ok:
			t.Errorf("%s: ok %v", tt.name, ok)
		case ok && is.Duration != tt.dur:
			t.Errorf("%s: duration %s, want %s", tt.name, is.Duration, tt.dur)
		}
	}
}

// TestLinkAssumeRootFirst: the AssumeRoot record, then the session's
// events (the EventBridge order): linked at once, within the purpose at
// the rule's level, outside it raised one level with the reason.
func TestLinkAssumeRootFirst(t *testing.T) {
	e := builtin(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	l := New(Config{Metrics: m})
	ctx := context.Background()

	grant := l.Link(ctx, match(t, e, grantFile))
	if len(grant) != 1 || grant[0].Rule != "assume-root" || grant[0].AssumedRoot != nil {
		t.Fatalf("grant detections %+v", grant)
	}
	within := l.Link(ctx, match(t, e, withinFile))
	if len(within) != 2 { // root-api-call, log-delivery-tampering (unscoped)
		t.Fatalf("%d detections, want 2 and no update", len(within))
	}
	d := byRule(t, within, "root-api-call", false)
	f := d.AssumedRoot
	if f == nil || !f.Linked || f.CallerARN != "arn:aws:sts::444455556666:assumed-role/PlatformRootTasks/carol" ||
		f.SourceIP != "203.0.113.50" || f.CallerAccountID != "444455556666" || f.TaskPolicy != "S3UnlockBucketPolicy" ||
		f.IssuedAt == nil || !f.IssuedAt.Equal(time.Date(2026, 11, 20, 9, 40, 31, 0, time.UTC)) ||
		f.AssumeRootEventID != "b98e5376-8372-42c4-8a03-40c7cf609328" || f.Intent != detector.IntentWithin ||
		!strings.HasPrefix(f.Note, NoteWithin) {
		t.Fatalf("facts %+v", f)
	}
	if d.Level != detector.LevelHigh || d.LevelReason != "" {
		t.Errorf("within: level %s reason %q, want high and none", d.Level, d.LevelReason)
	}

	outside := l.Link(ctx, match(t, e, outsideFile))
	d = byRule(t, outside, "root-api-call", false)
	if d.AssumedRoot == nil || d.AssumedRoot.Intent != detector.IntentOutside || !strings.HasPrefix(d.AssumedRoot.Note, NoteOutside) {
		t.Fatalf("outside: facts %+v", d.AssumedRoot)
	}
	if d.Level != detector.LevelCritical || !strings.Contains(d.LevelReason, "raised from high: iam:CreateAccessKey") ||
		!strings.Contains(d.LevelReason, "outside the task policy's purpose") {
		t.Errorf("outside: level %s reason %q", d.Level, d.LevelReason)
	}
	// Already critical: stays critical, still says outside.
	if k := byRule(t, outside, "root-access-key-created", false); k.Level != detector.LevelCritical || k.AssumedRoot.Intent != detector.IntentOutside {
		t.Errorf("root-access-key-created: %s %+v", k.Level, k.AssumedRoot)
	}
	if got := testutil.ToFloat64(m.Links.WithLabelValues("linked")); got != 4 {
		t.Errorf("linked = %v, want 4", got)
	}
	if got := testutil.ToFloat64(m.Outside); got != 2 {
		t.Errorf("outside = %v, want 2", got)
	}
}

// TestLinkAssumeRootLate: the session's events first (the S3 path, any
// order): they go out at once, unlinked; the AssumeRoot then brings one
// update per waiting alert, with its own key; a redelivered AssumeRoot
// brings the same updates again (same keys: the dedupe ledger delivers
// them once), so a failed delivery loses none.
func TestLinkAssumeRootLate(t *testing.T) {
	e := builtin(t)
	l := New(Config{})
	ctx := context.Background()

	first := l.Link(ctx, append(match(t, e, withinFile), match(t, e, outsideFile)...))
	for _, d := range first {
		if d.LinkUpdate || d.AssumedRoot == nil || d.AssumedRoot.Linked || d.AssumedRoot.Note != NoteUnlinked {
			t.Fatalf("%s: update %v facts %+v, want unlinked", d.Rule, d.LinkUpdate, d.AssumedRoot)
		}
	}
	if d := byRule(t, first, "root-api-call", false); d.Level != detector.LevelHigh {
		t.Errorf("unlinked level %s, want the rule's", d.Level)
	}
	out := l.Link(ctx, match(t, e, grantFile))
	if len(out) != 1+len(first) {
		t.Fatalf("%d detections, want the grant and %d updates", len(out), len(first))
	}
	keys := map[string]bool{}
	for _, d := range out[1:] {
		if !d.LinkUpdate || d.AssumedRoot == nil || !d.AssumedRoot.Linked || len(d.Record) == 0 {
			t.Fatalf("update %s: %v %+v", d.Rule, d.LinkUpdate, d.AssumedRoot)
		}
		if !strings.HasSuffix(d.Key(), "/linked") {
			t.Errorf("update key %s", d.Key())
		}
		keys[d.Key()] = true
		if d.EventName == "CreateAccessKey" && d.Rule == "root-api-call" && (d.Level != detector.LevelCritical || d.AssumedRoot.Intent != detector.IntentOutside) {
			t.Errorf("late outside update: %s %+v", d.Level, d.AssumedRoot)
		}
		if d.EventName == "DeleteBucketPolicy" && d.Rule == "root-api-call" && (d.Level != detector.LevelHigh || d.AssumedRoot.Intent != detector.IntentWithin) {
			t.Errorf("late within update: %s %+v", d.Level, d.AssumedRoot)
		}
	}
	if len(keys) != len(first) {
		t.Errorf("%d distinct update keys, want %d", len(keys), len(first))
	}
	again := l.Link(ctx, match(t, e, grantFile))
	if len(again) != len(out) {
		t.Fatalf("redelivered AssumeRoot: %d detections, want %d", len(again), len(out))
	}
	for _, d := range again[1:] {
		if !keys[d.Key()] {
			t.Errorf("redelivery brought a new key %s", d.Key())
		}
	}
	// A session whose AssumeRoot is never seen stays unlinked.
	if d := l.Link(ctx, match(t, e, unseenFile)); d[0].AssumedRoot == nil || d[0].AssumedRoot.Note != NoteUnlinked {
		t.Errorf("unseen session: %+v", d[0].AssumedRoot)
	}
}

// TestLinkOneBatch: the member event before the AssumeRoot in one batch is
// linked in place, with no update.
func TestLinkOneBatch(t *testing.T) {
	e := builtin(t)
	l := New(Config{})
	ds := l.Link(context.Background(), append(match(t, e, withinFile), match(t, e, grantFile)...))
	if len(ds) != 3 {
		t.Fatalf("%d detections, want 3", len(ds))
	}
	if d := byRule(t, ds, "root-api-call", false); d.AssumedRoot == nil || !d.AssumedRoot.Linked {
		t.Errorf("facts %+v", d.AssumedRoot)
	}
}

// TestLinkOutsideSessionTime: a key seen in an AssumeRoot long before the
// event does not link it.
func TestLinkOutsideSessionTime(t *testing.T) {
	e := builtin(t)
	l := New(Config{})
	ctx := context.Background()
	l.Link(ctx, match(t, e, grantFile))
	ds := match(t, e, withinFile)
	for i := range ds {
		ds[i].EventTime = ds[i].EventTime.Add(2 * time.Hour)
	}
	ds = l.Link(ctx, ds)
	if ds[0].AssumedRoot == nil || ds[0].AssumedRoot.Linked {
		t.Errorf("facts %+v, want unlinked", ds[0].AssumedRoot)
	}
}

type failingStore struct{ *Memory }

func (*failingStore) GetIssuance(context.Context, string) (Issuance, bool, error) {
	return Issuance{}, false, errors.New("dynamodb: throttled")
}

// TestLinkStoreFails: the detection goes out unlinked, counted.
func TestLinkStoreFails(t *testing.T) {
	e := builtin(t)
	m := NewMetrics(prometheus.NewRegistry())
	l := New(Config{Store: &failingStore{NewMemory(0, nil, nil)}, Metrics: m})
	ds := l.Link(context.Background(), match(t, e, withinFile))
	if len(ds) != 2 || ds[0].AssumedRoot == nil || ds[0].AssumedRoot.Linked {
		t.Fatalf("%d detections, facts %+v", len(ds), ds[0].AssumedRoot)
	}
	if got := testutil.ToFloat64(m.StoreErrors.WithLabelValues("get_issuance")); got != 2 {
		t.Errorf("store errors %v, want 2", got)
	}
}

// TestMemoryBounds: the store keeps at most maxKeys sessions (evicting the
// one that expires first), at most MaxPendingPerKey waiting detections per
// session, and forgets expired entries.
func TestMemoryBounds(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	evicted := 0
	s := NewMemory(2, func() time.Time { return now }, func() { evicted++ })
	for i, k := range []string{"ASIA1", "ASIA2", "ASIA3"} {
		if err := s.PutIssuance(ctx, Issuance{AccessKeyID: k}, now.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.GetIssuance(ctx, "ASIA1"); ok || evicted != 1 || s.Len() != 2 {
		t.Errorf("ASIA1 kept %v, evicted %d, len %d", ok, evicted, s.Len())
	}
	for i := range MaxPendingPerKey {
		if err := s.AddPending(ctx, "ASIA2", detector.Detection{EventID: string(rune('a' + i))}, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPending(ctx, "ASIA2", detector.Detection{}, now.Add(time.Hour)); !errors.Is(err, ErrPendingFull) {
		t.Errorf("AddPending beyond the bound: %v", err)
	}
	now = now.Add(2*time.Minute + time.Second) // ASIA2's issuance expired, its pending list not
	if _, ok, _ := s.GetIssuance(ctx, "ASIA2"); ok {
		t.Error("expired issuance returned")
	}
	if ps, _ := s.Pending(ctx, "ASIA2"); len(ps) != MaxPendingPerKey || ps[1].EventID != "b" {
		t.Errorf("read %d", len(ps))
	}
	now = now.Add(time.Hour) // the pending list expired too
	if ps, _ := s.Pending(ctx, "ASIA2"); len(ps) != 0 || s.Len() != 1 {
		t.Errorf("expired list: read %d, %d sessions held", len(ps), s.Len())
	}
}

// racingStore stores the session's issuance (as another replica would)
// right after the first unlinked detection is added.
type racingStore struct {
	*Memory
	is   Issuance
	done bool
}

func (s *racingStore) AddPending(ctx context.Context, key string, d detector.Detection, exp time.Time) error {
	if err := s.Memory.AddPending(ctx, key, d, exp); err != nil {
		return err
	}
	if !s.done {
		s.done = true
		return s.Memory.PutIssuance(ctx, s.is, exp)
	}
	return nil
}

// TestLinkRace: the AssumeRoot stored by another replica between this
// replica's lookup and its add: the alert is linked before it goes out,
// not left waiting.
func TestLinkRace(t *testing.T) {
	e := builtin(t)
	rec, err := os.ReadFile(filepath.Join("testdata", grantFile))
	if err != nil {
		t.Fatal(err)
	}
	is, _, err := ParseIssuance(rec)
	if err != nil {
		t.Fatal(err)
	}
	l := New(Config{Store: &racingStore{Memory: NewMemory(0, nil, nil), is: is}})
	ds := l.Link(context.Background(), match(t, e, withinFile))
	for _, d := range ds {
		if d.AssumedRoot == nil || !d.AssumedRoot.Linked || d.LinkUpdate {
			t.Errorf("%s: %v %+v", d.Rule, d.LinkUpdate, d.AssumedRoot)
		}
	}
}
