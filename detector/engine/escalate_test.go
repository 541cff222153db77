package engine

import (
	"path/filepath"
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
