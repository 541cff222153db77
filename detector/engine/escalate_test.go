package engine

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// TestEscalationAndPlaceholders checks the rootwatch escalate extension (the
// detection's level, not the rule's, is raised) and expand placeholders:
// defined, undefined beside defined ones (the value matches nothing), and
// unscoped (any value, fallback level), with the eventName index in use.
func TestEscalationAndPlaceholders(t *testing.T) {
	const rule = `title: T
name: t
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: [DeleteBucket, DisableKey]
  bucket:
    requestParameters.bucketName|expand: '%bucket%'
  key:
    requestParameters.keyId|expand|endswith: '%key%'
  by_root:
    userIdentity.type: Root
  condition: sel and (bucket or key)
rootwatch:
  escalate: {level: critical, condition: by_root}
  unresolved_level: low
`
	const (
		userBucket = `{"eventName":"DeleteBucket","eventID":"1","userIdentity":{"type":"IAMUser"},"requestParameters":{"bucketName":"Trail"}}`
		rootBucket = `{"eventName":"DeleteBucket","eventID":"2","userIdentity":{"type":"Root"},"requestParameters":{"bucketName":"trail"}}`
		other      = `{"eventName":"DeleteBucket","eventID":"3","userIdentity":{"type":"Root"},"requestParameters":{"bucketName":"other"}}`
		keyARN     = `{"eventName":"DisableKey","eventID":"4","userIdentity":{"type":"IAMUser"},"requestParameters":{"keyId":"arn:aws:kms:us-east-1:111122223333:key/k-1234"}}`
		readOnly   = `{"eventName":"GetBucketPolicy","eventID":"5","userIdentity":{"type":"Root"},"requestParameters":{"bucketName":"trail"}}`
	)
	tests := []struct {
		name string
		ph   map[string][]string
		want map[string]detector.Level // record -> level ("" absent = no detection)
	}{
		{"all defined", map[string][]string{"bucket": {"trail"}, "key": {"k-1234"}},
			map[string]detector.Level{userBucket: detector.LevelHigh, rootBucket: detector.LevelCritical, keyARN: detector.LevelHigh}},
		{"key undefined: keys not watched", map[string][]string{"bucket": {"trail"}},
			map[string]detector.Level{userBucket: detector.LevelHigh, rootBucket: detector.LevelCritical}},
		{"none defined: unscoped, fallback level, escalation kept", nil,
			map[string]detector.Level{userBucket: detector.LevelLow, rootBucket: detector.LevelCritical, other: detector.LevelCritical, keyARN: detector.LevelLow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := sigma.ParseWithOptions("t.yml", []byte(rule), sigma.Options{Placeholders: tt.ph})
			if err != nil {
				t.Fatal(err)
			}
			for _, noIndex := range []bool{false, true} {
				e, err := newEngine([]*sigma.Rule{r}, options{noIndex: noIndex})
				if err != nil {
					t.Fatal(err)
				}
				if !noIndex && len(e.unindexed) != 0 {
					t.Errorf("rule is not indexed")
				}
				for _, rec := range []string{userBucket, rootBucket, other, keyARN, readOnly} {
					ds, err := e.Match([]byte(rec), "t", nil)
					if err != nil {
						t.Fatal(err)
					}
					want, fire := tt.want[rec]
					switch {
					case len(ds) != map[bool]int{true: 1}[fire]:
						t.Errorf("noIndex=%v %s: %d detections, want fire=%v", noIndex, rec, len(ds), fire)
					case fire && ds[0].Level != want:
						t.Errorf("noIndex=%v %s: level %s, want %s", noIndex, rec, ds[0].Level, want)
					}
				}
			}
		})
	}
}

// TestBuiltinRulesIndexed keeps the hot path fast: every built-in rule,
// the tampering rules scoped or unscoped included, is indexed (none is
// evaluated on every record).
func TestBuiltinRulesIndexed(t *testing.T) {
	for _, ph := range []map[string][]string{nil, {"bucket": {"b"}, "queue": {"111122223333/q"}, "rule": {"r"}, "key": {"k-1234"}}} {
		rs, err := rules.LoadDirWithOptions(filepath.Join("..", "rules", "builtin"), sigma.Options{Placeholders: ph})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(rs)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range e.unindexed {
			t.Errorf("placeholders %v: rule %s is not indexed", ph, rs[i].Name)
		}
	}
}

// TestCredentialKindAndLevelReason checks the credential fields of a
// detection and the escalation's reason: a long-lived root key raises
// root-api-call to critical and says why; a console session stays high
// with no reason; a rule without a reason names its condition.
func TestCredentialKindAndLevelReason(t *testing.T) {
	rs, err := rules.LoadDir(filepath.Join("..", "rules", "builtin"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, rec        string
		level            detector.Level
		kind, sess       string
		reasonContaining string
	}{
		{"root access key", `{"eventVersion":"1.10","eventType":"AwsApiCall","eventName":"DescribeInstances","eventID":"1","userIdentity":{"type":"Root","accessKeyId":"AKIAY34FZKBOROOTKEY1"}}`,
			detector.LevelCritical, detector.CredentialLongLivedKey, "", "long-lived root access key"},
		{"console session", `{"eventVersion":"1.10","eventType":"AwsApiCall","eventName":"ListBuckets","eventID":"2","sessionCredentialFromConsole":"true","userIdentity":{"type":"Root","accessKeyId":"ASIAY34FZKBOCONSOLE1"}}`,
			detector.LevelHigh, detector.CredentialTemporarySession, detector.SessionConsole, ""},
		{"assumed root", `{"eventVersion":"1.10","eventType":"AwsApiCall","eventName":"DeleteLoginProfile","eventID":"3","userIdentity":{"type":"Root","accessKeyId":"ASIAY34FZKBOASSUMRT2","sessionContext":{"assumedRoot":"true"}}}`,
			detector.LevelHigh, detector.CredentialTemporarySession, detector.SessionAssumedRoot, ""},
		{"lower-case akia is not a root key", `{"eventVersion":"1.10","eventType":"AwsApiCall","eventName":"DescribeInstances","eventID":"4","userIdentity":{"type":"Root","accessKeyId":"akiay34fzkborootkey1"}}`,
			detector.LevelHigh, detector.CredentialUnknown, "", ""},
	}
	for _, tt := range tests {
		ds, err := e.Match([]byte(tt.rec), "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Rule != "root-api-call" {
			t.Fatalf("%s: detections %+v, want root-api-call alone", tt.name, ds)
		}
		d := ds[0]
		if d.Level != tt.level || d.CredentialKind != tt.kind || d.CredentialSession != tt.sess {
			t.Errorf("%s: level %s kind %q session %q, want %s %q %q", tt.name, d.Level, d.CredentialKind, d.CredentialSession, tt.level, tt.kind, tt.sess)
		}
		if tt.reasonContaining == "" && d.LevelReason != "" || !strings.Contains(d.LevelReason, tt.reasonContaining) {
			t.Errorf("%s: level reason %q, want one containing %q", tt.name, d.LevelReason, tt.reasonContaining)
		}
	}
	// A sign-in event has no key.
	ds, err := e.Match([]byte(`{"eventVersion":"1.10","eventType":"AwsConsoleSignIn","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventID":"5","userIdentity":{"type":"Root"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}}`), "t", nil)
	if err != nil || len(ds) == 0 {
		t.Fatalf("sign-in: %v %d detections", err, len(ds))
	}
	for _, d := range ds {
		if d.CredentialKind != detector.CredentialNone || d.CredentialSession != "" {
			t.Errorf("sign-in %s: kind %q session %q, want none", d.Rule, d.CredentialKind, d.CredentialSession)
		}
	}
	// An escalation without a reason names its condition.
	r, err := sigma.Parse("t.yml", []byte("title: T\nname: t\nlevel: high\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: X}\n  by_root: {userIdentity.type: Root}\n  condition: sel\nrootwatch:\n  escalate: {level: critical, condition: by_root}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := New([]*sigma.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	ds, err = e2.Match([]byte(`{"eventName":"X","userIdentity":{"type":"Root"}}`), "t", nil)
	if err != nil || len(ds) != 1 || ds[0].LevelReason != "raised from high by the rule's escalation condition: by_root" {
		t.Fatalf("default reason: %v %+v", err, ds)
	}
}
