package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
)

// TestScanAssumeRootAttribution: scan links a member account's
// assumed-root alerts to the AssumeRoot in another file, in either order:
// AssumeRoot first, the member alerts come out linked; AssumeRoot last,
// they come out unlinked (saying so) and the late-link updates follow.
func TestScanAssumeRootAttribution(t *testing.T) {
	dir := filepath.Join("..", "..", "detector", "attribution", "testdata")
	grant, member := filepath.Join(dir, "assume-root-s3unlock.json"), filepath.Join(dir, "member-create-access-key.json")
	for _, tt := range []struct {
		name  string
		files []string
	}{
		{"assumeroot first", []string{grant, member}},
		{"assumeroot last", []string{member, grant}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"scan", "--format", "json", "--jobs", "1"}, tt.files...)
			if code := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var linked, unlinked, updates int
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var d detector.Detection
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				if d.EventName != "CreateAccessKey" {
					continue
				}
				switch {
				case d.AssumedRoot == nil:
					t.Errorf("%s: no assumed_root: %s", d.Rule, line)
				case !d.AssumedRoot.Linked:
					unlinked++
				default:
					linked++
					if d.LinkUpdate {
						updates++
					}
					if d.Rule == "root-api-call" && (d.Level != detector.LevelCritical || d.AssumedRoot.Intent != detector.IntentOutside ||
						!strings.Contains(d.LevelReason, "outside the task policy's purpose")) {
						t.Errorf("root-api-call: %s %q %+v", d.Level, d.LevelReason, d.AssumedRoot)
					}
				}
			}
			want := [3]int{2, 0, 0} // root-api-call and root-access-key-created, linked at once
			if tt.name == "assumeroot last" {
				want = [3]int{2, 2, 2}
			}
			if got := [3]int{linked, unlinked, updates}; got != want {
				t.Errorf("linked, unlinked, updates = %v, want %v\n%s", got, want, out.String())
			}
		})
	}
}
