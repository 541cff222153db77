package sigma

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
)

const expandRule = `title: T
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: DeleteBucket
    requestParameters.bucketName|expand: '%bucket%'
  queue:
    requestParameters.queueUrl|expand|endswith: ['/%queue%', 'x-%a%-%b%-*']
  condition: sel or queue
rootwatch:
  unresolved_level: medium
`

// TestExpand checks placeholder expansion: values, literal placeholder
// values, the product of several placeholders, and the undefined-placeholder
// policy (unscoped when none is defined, match nothing for the undefined
// ones otherwise).
func TestExpand(t *testing.T) {
	tests := []struct {
		name         string
		ph           map[string][]string
		wantBucket   []string // Glob.String() of each value
		wantQueue    []string
		bucketNever  bool
		wantLevel    detector.Level
		wantUnscoped bool
		wantUnres    []string
	}{
		{
			name:       "all defined",
			ph:         map[string][]string{"bucket": {"trail-logs", "b*?\\"}, "queue": {"1111/rw"}, "a": {"1", "2"}, "b": {"x", "y"}},
			wantBucket: []string{"trail-logs", `b\*\?\\`},
			wantQueue:  []string{"/1111/rw", "x-1-x-*", "x-1-y-*", "x-2-x-*", "x-2-y-*"},
			wantLevel:  detector.LevelHigh,
		},
		{
			name:         "none defined: unscoped at the fallback level",
			ph:           nil,
			wantBucket:   []string{"*"},
			wantQueue:    []string{"*", "*"},
			wantLevel:    detector.LevelMedium,
			wantUnscoped: true,
			wantUnres:    []string{"a", "b", "bucket", "queue"},
		},
		{
			name:        "some defined: undefined ones match nothing",
			ph:          map[string][]string{"queue": {"1111/rw"}},
			bucketNever: true,
			wantQueue:   []string{"/1111/rw"},
			wantLevel:   detector.LevelHigh,
			wantUnres:   []string{"a", "b", "bucket"},
		},
		{
			name:       "a name with no values is undefined",
			ph:         map[string][]string{"bucket": {"l"}, "queue": {}, "a": {"1"}, "b": {"2"}},
			wantBucket: []string{"l"},
			wantQueue:  []string{"x-1-2-*"},
			wantLevel:  detector.LevelHigh,
			wantUnres:  []string{"queue"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseWithOptions("r.yml", []byte(expandRule), Options{Placeholders: tt.ph})
			if err != nil {
				t.Fatal(err)
			}
			globs := func(fm *FieldMatch) []string {
				var out []string
				for _, v := range fm.Values {
					out = append(out, v.Glob.String())
				}
				return out
			}
			bucket := r.Detection["sel"].Maps[0].Matches[1]
			queue := r.Detection["queue"].Maps[0].Matches[0]
			if got := globs(bucket); !reflect.DeepEqual(got, tt.wantBucket) || bucket.Never != tt.bucketNever {
				t.Errorf("bucket values %q never=%v, want %q never=%v", got, bucket.Never, tt.wantBucket, tt.bucketNever)
			}
			if got := globs(queue); !reflect.DeepEqual(got, tt.wantQueue) {
				t.Errorf("queue values %q, want %q", got, tt.wantQueue)
			}
			if r.Level != tt.wantLevel || r.DeclaredLevel != detector.LevelHigh || r.Unscoped != tt.wantUnscoped {
				t.Errorf("level %s declared %s unscoped %v, want %s high %v", r.Level, r.DeclaredLevel, r.Unscoped, tt.wantLevel, tt.wantUnscoped)
			}
			if !reflect.DeepEqual(r.Unresolved, tt.wantUnres) {
				t.Errorf("Unresolved %q, want %q", r.Unresolved, tt.wantUnres)
			}
			if want := []string{"a", "b", "bucket", "queue"}; !reflect.DeepEqual(r.Placeholders, want) {
				t.Errorf("Placeholders %q, want %q", r.Placeholders, want)
			}
		})
	}
}

func TestExpandLimit(t *testing.T) {
	vals := make([]string, 100)
	for i := range vals {
		vals[i] = strings.Repeat("v", i+1)
	}
	rule := strings.Replace(expandRule, "'%bucket%'", "'%a%%b%'", 1)
	_, err := ParseWithOptions("r.yml", []byte(rule), Options{Placeholders: map[string][]string{"a": vals, "b": vals}})
	if err == nil || !strings.Contains(err.Error(), "r.yml:7:") || !strings.Contains(err.Error(), "more than 4096 values") {
		t.Fatalf("err = %v, want the expansion limit at line 7", err)
	}
}

func TestEscalation(t *testing.T) {
	r, err := Parse("r.yml", []byte(`title: T
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: StopLogging}
  by_root: {userIdentity.type: Root}
  condition: sel
rootwatch:
  escalate: {level: critical, condition: by_root, reason: " root stopped the trail "}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := r.Escalation
	if e == nil || e.Level != detector.LevelCritical || e.ConditionText != "by_root" || e.Condition.Kind != NodeSelection || e.Line != 9 ||
		e.Reason != "root stopped the trail" {
		t.Fatalf("Escalation = %+v", e)
	}
	if r.Level != detector.LevelHigh || r.Unresolved != nil || r.Placeholders != nil {
		t.Fatalf("rule = %+v", r)
	}
}

func TestExpandAllWithUndefined(t *testing.T) {
	rule := strings.Replace(expandRule, "requestParameters.bucketName|expand: '%bucket%'", "requestParameters.bucketName|expand|all: ['%bucket%', '%nope%']", 1)
	r, err := ParseWithOptions("r.yml", []byte(rule), Options{Placeholders: map[string][]string{"bucket": {"b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if fm := r.Detection["sel"].Maps[0].Matches[1]; !fm.Never || fm.Values != nil {
		t.Errorf("all with an undefined value: never %v values %d, want a match that never holds", fm.Never, len(fm.Values))
	}
}
