package s3object

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// referencePattern is the key grammar as a regular expression: the oracle
// FuzzClassify checks the hand-written Classify against.
var referencePattern = regexp.MustCompile(`^(?:.*/)?AWSLogs/(?:o-[a-z0-9]{10,32}/)?([0-9]{12})/` +
	`(CloudTrail|CloudTrail-Digest|CloudTrail-Insight)/` +
	`[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}/` +
	`[0-9]{4}/(?:0[1-9]|1[0-2])/(?:0[1-9]|[12][0-9]|3[01])/` +
	`([^/]+)$`)

func referenceClassify(key string) KeyClass {
	m := referencePattern.FindStringSubmatch(key)
	switch {
	case m == nil:
		return ClassOther
	case m[2] == "CloudTrail-Digest":
		return ClassDigest
	case m[2] == "CloudTrail-Insight":
		return ClassInsights
	case strings.HasSuffix(m[3], ".json.gz") || strings.HasSuffix(m[3], ".json"):
		return ClassLog
	default:
		return ClassOther
	}
}

type keyCase struct {
	class KeyClass
	key   string
}

// readKeyCases reads testdata/keys.tsv: "class<TAB>key" lines, # comments.
func readKeyCases(t testing.TB) []keyCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "keys.tsv"))
	if err != nil {
		t.Fatalf("open key cases: %v", err)
	}
	defer f.Close()
	classes := map[string]KeyClass{"log": ClassLog, "digest": ClassDigest, "insights": ClassInsights, "other": ClassOther}
	var cases []keyCase
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, key, ok := strings.Cut(text, "\t")
		class, known := classes[name]
		if !ok || !known {
			t.Fatalf("keys.tsv:%d: want class<TAB>key, got %q", line, text)
		}
		cases = append(cases, keyCase{class, key})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read key cases: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("no key cases")
	}
	return cases
}

func TestClassify(t *testing.T) {
	for _, tc := range readKeyCases(t) {
		t.Run(tc.class.String()+"/"+tc.key, func(t *testing.T) {
			if got := Classify(tc.key); got != tc.class {
				t.Errorf("Classify(%q) = %v, want %v", tc.key, got, tc.class)
			}
			if got := referenceClassify(tc.key); got != tc.class {
				t.Errorf("reference grammar: %q is %v, want %v", tc.key, got, tc.class)
			}
		})
	}
}

// referenceAccount is the account the reference grammar finds in key, ""
// for a key it calls other.
func referenceAccount(key string) string {
	if referenceClassify(key) == ClassOther {
		return ""
	}
	return referencePattern.FindStringSubmatch(key)[1]
}

func TestKeyAccount(t *testing.T) {
	tests := []struct{ key, want string }{
		{"AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/f.json.gz", "123456789012"},
		{"AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/eu-west-1/2026/11/26/f.json.gz", "111122223333"},
		{"p/AWSLogs/999999999999/AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/f.json.gz", "123456789012"},
		{"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/26/d.json.gz", "123456789012"},
		{"AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/f.txt", ""},
		{"AWSLogs/12345678901/CloudTrail/us-east-1/2026/11/26/f.json.gz", ""},
		{"exports/123456789012.json.gz", ""},
	}
	for _, tt := range tests {
		if got := KeyAccount(tt.key); got != tt.want {
			t.Errorf("KeyAccount(%q) = %q, want %q", tt.key, got, tt.want)
		}
		if got := referenceAccount(tt.key); got != tt.want {
			t.Errorf("reference grammar: account of %q = %q, want %q", tt.key, got, tt.want)
		}
	}
	for _, tc := range readKeyCases(t) {
		if got, want := KeyAccount(tc.key), referenceAccount(tc.key); got != want {
			t.Errorf("KeyAccount(%q) = %q, reference grammar says %q", tc.key, got, want)
		}
	}
}

func TestKeyClassString(t *testing.T) {
	for c, want := range map[KeyClass]string{ClassOther: "other", ClassLog: "log", ClassDigest: "digest", ClassInsights: "insights", KeyClass(42): "other"} {
		if got := c.String(); got != want {
			t.Errorf("KeyClass(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, tc := range readKeyCases(f) {
		f.Add(tc.key)
	}
	f.Fuzz(func(t *testing.T, key string) {
		c := Classify(key)
		if want := referenceClassify(key); c != want {
			t.Fatalf("Classify(%q) = %v, reference grammar says %v", key, c, want)
		}
		if got, want := KeyAccount(key), referenceAccount(key); got != want {
			t.Fatalf("KeyAccount(%q) = %q, reference grammar says %q", key, got, want)
		}
		if c == ClassOther {
			return
		}
		if !strings.Contains(key, "AWSLogs/") || strings.HasSuffix(key, "/") {
			t.Fatalf("Classify(%q) = %v for a key that cannot be a CloudTrail file", key, c)
		}
		// A trail's S3 key prefix does not change the class.
		if got := Classify("some/prefix/" + key); got != c {
			t.Fatalf("Classify with prefix = %v, without = %v (%q)", got, c, key)
		}
		// Nor does the class survive a changed file-name position.
		if got := Classify(key + "/x"); got != ClassOther {
			t.Fatalf("Classify(%q) = %v, want other", key+"/x", got)
		}
	})
}
