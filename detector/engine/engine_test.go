package engine

import (
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
					ds, err := e.Match([]byte(rec), "test", nil)
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
