package engine

import (
	"errors"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/rules"
)

// TestMatchRejectsNonCloudTrail checks that a JSON object with none of
// eventVersion, eventName and eventSource is an ErrNotCloudTrail error,
// not a record without detections, and that anything with one of them is
// evaluated.
func TestMatchRejectsNonCloudTrail(t *testing.T) {
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rec     string
		wantErr bool
	}{
		{"lookup-events page", `{"Events":[{"EventId":"1","EventName":"ConsoleLogin","CloudTrailEvent":"{}"}],"NextToken":"x"}`, true},
		{"digest file", `{"awsAccountId":"111122223333","digestStartTime":"2026-11-20T08:00:00Z","digestEndTime":"2026-11-20T09:00:00Z","logFiles":[]}`, true},
		{"arbitrary wrapper", `{"event":{"eventVersion":"1.08","eventName":"ConsoleLogin","userIdentity":{"type":"Root"}}}`, true},
		{"empty object", `{}`, true},
		{"fields of the wrong type", `{"eventVersion":1.08,"eventName":null,"eventSource":["x"]}`, true},
		{"fields with other case", `{"EventVersion":"1.08","EventName":"x","EventSource":"y"}`, true},
		{"full record", `{"eventVersion":"1.08","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","userIdentity":{"type":"IAMUser"}}`, false},
		{"Insights record (no top-level eventName)", `{"eventVersion":"1.07","eventTime":"2026-11-20T10:00:00Z","eventType":"AwsCloudTrailInsight","insightDetails":{"eventName":"x"}}`, false},
		{"eventName only", `{"eventName":"x"}`, false},
		{"eventSource only", `{"eventSource":"x"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := e.Match([]byte(tt.rec), "src", nil)
			if tt.wantErr {
				if !errors.Is(err, detector.ErrNotCloudTrail) {
					t.Fatalf("Match = %v, %v; want ErrNotCloudTrail", ds, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
		})
	}
}
