package trailhealth

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

type evalCase struct {
	Name           string                              `json:"name"`
	Now            string                              `json:"now"`
	MaxDeliveryAge string                              `json:"max_delivery_age"`
	Baseline       Baseline                            `json:"baseline"`
	Missing        bool                                `json:"missing"`
	Trail          *types.Trail                        `json:"trail"`
	Status         *cloudtrail.GetTrailStatusOutput    `json:"status"`
	Selectors      *cloudtrail.GetEventSelectorsOutput `json:"selectors"`
	Want           []string                            `json:"want"`
	Level          string                              `json:"level"`
	Detail         string                              `json:"detail"`
}

// TestEvaluate runs the cases of testdata/evaluate.json: trail, status and
// selectors (basic and advanced) in the API's JSON shape -> problem codes,
// level and detail.
func TestEvaluate(t *testing.T) {
	b, err := os.ReadFile("testdata/evaluate.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []evalCase `json:"cases"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 20 {
		t.Fatalf("only %d cases read", len(file.Cases))
	}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			if tc.Now != "" {
				if now, err = time.Parse(time.RFC3339, tc.Now); err != nil {
					t.Fatal(err)
				}
			}
			maxAge := time.Hour
			if tc.MaxDeliveryAge != "" {
				if maxAge, err = time.ParseDuration(tc.MaxDeliveryAge); err != nil {
					t.Fatal(err)
				}
			}
			got := Evaluate(Observation{Trail: tc.Trail, Missing: tc.Missing, Status: tc.Status, Selectors: tc.Selectors},
				tc.Baseline, now, maxAge)
			codes := []string{}
			for _, f := range got {
				codes = append(codes, f.Problem)
			}
			if strings.Join(codes, ",") != strings.Join(tc.Want, ",") {
				t.Fatalf("problems %v, want %v (%+v)", codes, tc.Want, got)
			}
			if tc.Level != "" {
				if l := Level(got).String(); l != tc.Level {
					t.Errorf("level %s, want %s", l, tc.Level)
				}
			}
			if tc.Detail != "" && !strings.Contains(summary(got), tc.Detail) {
				t.Errorf("detail %q lacks %q", summary(got), tc.Detail)
			}
		})
	}
}

// TestBaselineIsSticky: a setting seen once stays expected.
func TestBaselineIsSticky(t *testing.T) {
	var b Baseline
	on, off := true, false
	b.Update(&types.Trail{IsMultiRegionTrail: &on, LogFileValidationEnabled: &on})
	b.Update(&types.Trail{IsMultiRegionTrail: &off, LogFileValidationEnabled: &off})
	b.Update(nil)
	if !b.MultiRegion || !b.ValidationActive || b.Organization || b.GlobalEvents {
		t.Errorf("baseline %+v", b)
	}
}
