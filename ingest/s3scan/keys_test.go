package s3scan

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/ingest/s3object"
)

// TestKeyTime reads testdata/keys.txt: "KEY<TAB>RFC3339 time" or
// "KEY<TAB>-" for keys without a timestamp.
func TestKeyTime(t *testing.T) {
	f, err := os.Open("testdata/keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, want, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		n++
		got, ok := KeyTime(key)
		if want == "-" {
			if ok {
				t.Errorf("KeyTime(%q) = %v, want none", key, got)
			}
			continue
		}
		wt, err := time.Parse(time.RFC3339, want)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || !got.Equal(wt) {
			t.Errorf("KeyTime(%q) = %v, %v; want %v", key, got, ok, wt)
		}
	}
	if n < 5 {
		t.Fatalf("only %d cases", n)
	}
}

func TestTrailPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "/": "", "AWSLogs": "", "AWSLogs/": "", "trail": "trail/", "trail/": "trail/",
		"a/b/AWSLogs/": "a/b/", "/a/b": "a/b/",
	} {
		if got := TrailPrefix(in); got != want {
			t.Errorf("TrailPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIDs(t *testing.T) {
	for s, want := range map[string][2]bool{
		"111122223333": {true, false}, "11112222333": {false, false}, "o-abc123def4": {false, true},
		"o-ABC123DEF4": {false, false}, "o-": {false, false}, "CloudTrail": {false, false},
	} {
		if s3object.IsAccountID(s) != want[0] || s3object.IsOrgID(s) != want[1] {
			t.Errorf("%q: account %v org %v, want %v", s, s3object.IsAccountID(s), s3object.IsOrgID(s), want)
		}
	}
}

func FuzzKeyTime(f *testing.F) {
	f.Add("AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T0805Z_abc.json.gz")
	f.Add("111122223333_CloudTrail_us-east-1_20261301T2599Z_x")
	f.Add("a_CloudTrail_b_c_d")
	f.Add("")
	f.Fuzz(func(t *testing.T, key string) {
		tm, ok := KeyTime(key)
		if !ok {
			return
		}
		// A parsed time is whole minutes in UTC and prints back as the
		// part of the name it came from.
		if tm.Location() != time.UTC || tm.Second() != 0 || tm.Nanosecond() != 0 {
			t.Fatalf("KeyTime(%q) = %v", key, tm)
		}
		if !strings.Contains(key, "_"+tm.Format("20060102T1504Z")+"_") {
			t.Fatalf("KeyTime(%q) = %v, not in the key", key, tm)
		}
	})
}
