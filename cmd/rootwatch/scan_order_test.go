package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sampleFiles lists the sample's log files (testdata/sample/AWSLogs).
func sampleFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../../testdata/sample/AWSLogs", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("sample files %v: %v", files, err)
	}
	slices.Sort(files)
	return files
}

// takeoverAlerts scans args (--format json) and returns the
// root-takeover-chain alerts printed (follow-ups left out), each as its account and the rules
// of the events it names.
func takeoverAlerts(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, errs := runCmd(t, "", append([]string{"scan", "--format", "json"}, args...)...)
	if code != 0 && code != 1 {
		t.Fatalf("scan exit %d: %s", code, errs)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d struct {
			Rule       string `json:"rule"`
			Account    string `json:"account_id"`
			Update     string `json:"correlation_update"`
			Correlated []struct {
				Rule string `json:"rule"`
			} `json:"correlated"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if d.Rule != "root-takeover-chain" || d.Update != "" {
			continue // follow-ups (steps read after the alert) are notes on it
		}
		var steps []string
		for _, e := range d.Correlated {
			steps = append(steps, e.Rule)
		}
		slices.Sort(steps)
		got = append(got, d.Account+" "+strings.Join(slices.Compact(steps), ","))
	}
	return got
}

// TestScanTakeoverChainOrderIndependent: the sample holds one root
// takeover; scanning it gives exactly one root-takeover-chain alert,
// naming every step, whatever the order the files are read in (given in
// 24 orders one at a time, and the directory 60 times with 4 parallel
// jobs, whose interleaving of the records varies from run to run).
func TestScanTakeoverChainOrderIndependent(t *testing.T) {
	want := []string{"111122223333 root-api-call,root-password-change,root-takeover-credential-step"}
	files := sampleFiles(t)
	r := rand.New(rand.NewPCG(10, 1))
	for i := range 24 {
		order := slices.Clone(files)
		switch i {
		case 0:
		case 1:
			slices.Reverse(order)
		default:
			r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		if got := takeoverAlerts(t, append([]string{"--jobs", "1"}, order...)...); !slices.Equal(got, want) {
			t.Errorf("files in order %v: takeover alerts %q, want %q", order, got, want)
		}
	}
	for i := range 60 {
		if got := takeoverAlerts(t, "--jobs", "4", "../../testdata/sample/AWSLogs"); !slices.Equal(got, want) {
			t.Errorf("--jobs 4, run %d: takeover alerts %q, want %q", i, got, want)
		}
	}
}

// TestScanSummaryOrderIndependent: the summary's detection count and
// levels do not depend on the order the sample's files are read in. Late
// AssumeRoot links and correlation follow-ups, whose number does, are
// counted apart.
func TestScanSummaryOrderIndependent(t *testing.T) {
	const want = ": 22 detection(s) (critical 8, high 12, medium 2)"
	for i := range 40 {
		code, out, errs := runCmd(t, "", "scan", "--jobs", "4", "../../testdata/sample/AWSLogs")
		if code != 0 {
			t.Fatalf("scan exit %d: %s", code, errs)
		}
		if all := out + errs; !strings.Contains(all, want) {
			summary := ""
			for _, l := range strings.Split(all, "\n") {
				if strings.Contains(l, "detection(s)") {
					summary = l
				}
			}
			t.Errorf("run %d: summary %q, want it to contain %q", i, summary, want)
		}
	}
}
