package engine

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rootwatch/rootwatch/detector/sigma"
)

type semanticsCase struct {
	Name      string   `yaml:"name"`
	Detection string   `yaml:"detection"`
	Match     []string `yaml:"match"`
	NoMatch   []string `yaml:"nomatch"`
}

func ruleFromDetection(t testing.TB, name, detection string) *sigma.Rule {
	t.Helper()
	var b strings.Builder
	b.WriteString("title: " + name + "\nname: " + strings.ReplaceAll(name, " ", "-") + "\nlevel: high\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n")
	for _, line := range strings.Split(strings.TrimRight(detection, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	r, err := sigma.Parse(name+".yml", []byte(b.String()))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return r
}

// asCloudTrail returns rec with an eventVersion added when it is a JSON
// object without any of the fields that make it a CloudTrail record, so
// that the semantics cases can stay minimal. No case reads eventVersion.
func asCloudTrail(rec string) []byte {
	var m map[string]any
	if json.Unmarshal([]byte(rec), &m) != nil {
		return []byte(rec)
	}
	for _, k := range identityFields {
		if _, ok := m[k].(string); ok {
			return []byte(rec)
		}
	}
	i := strings.IndexByte(rec, '{')
	sep := ","
	if len(m) == 0 {
		sep = ""
	}
	return []byte(rec[:i+1] + `"eventVersion":"test"` + sep + rec[i+1:])
}

// TestSemantics runs testdata/semantics.yml through the engine, with the
// index and without it.
func TestSemantics(t *testing.T) {
	data, err := os.ReadFile("testdata/semantics.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []semanticsCase
	if err := yaml.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			r := ruleFromDetection(t, tc.Name, tc.Detection)
			for _, noIndex := range []bool{false, true} {
				e, err := newEngine([]*sigma.Rule{r}, options{noIndex: noIndex})
				if err != nil {
					t.Fatal(err)
				}
				check := func(rec string, want bool) {
					ds, err := e.Match(asCloudTrail(rec), "test", nil)
					if err != nil {
						t.Fatalf("Match(%s): %v", rec, err)
					}
					if got := len(ds) == 1; got != want || len(ds) > 1 {
						t.Errorf("noIndex=%v: Match(%s) fired %d times, want match=%v", noIndex, rec, len(ds), want)
					}
				}
				for _, rec := range tc.Match {
					check(rec, true)
				}
				for _, rec := range tc.NoMatch {
					check(rec, false)
				}
			}
		})
	}
}
