package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestScanRefusesGzipBomb checks that scan refuses a gzip bomb (32 MiB of
// whitespace in about 32 KB) with exit 1 and an error naming the file, and
// that ROOTWATCH_MAX_COMPRESSION_RATIO and --max-compression-ratio apply
// to scan.
func TestScanRefusesGzipBomb(t *testing.T) {
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.json.gz")
	writeGz(t, bomb, `{"Records":[`+rootNoMFA+`,`+strings.Repeat(" ", 32<<20)+`{"eventVersion":"1.08","eventName":"x","eventSource":"y"}]}`)
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "refused by default", args: []string{"scan", "--format", "json", bomb},
			wantCode: exitPartial, wantStderr: "bomb.json.gz: at byte"},
		{name: "environment raises the bound", env: map[string]string{"ROOTWATCH_MAX_COMPRESSION_RATIO": "2000"},
			args: []string{"scan", "--format", "json", bomb}, wantCode: exitOK, wantStderr: "2 records"},
		{name: "flag raises the bound", args: []string{"scan", "--format", "json", "--max-compression-ratio", "2000", bomb},
			wantCode: exitOK, wantStderr: "2 records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, strings.NewReader(""), &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.wantStderr)
			}
			if !strings.Contains(out.String(), "root-console-login-no-mfa") {
				t.Errorf("the record before the bomb was not alerted; stdout %q", out.String())
			}
		})
	}
}

// TestScanWarnsOnInputWithoutRecords checks that a file holding no record
// at all is called out on stderr instead of passing as a clean scan.
func TestScanWarnsOnInputWithoutRecords(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"Records":[]}`), 0o644)
	code, _, stderr := runCmd(t, "", "scan", "--format", "json", empty)
	if code != exitOK {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	if !strings.Contains(stderr, "empty.json: warning: no CloudTrail record") {
		t.Errorf("stderr %q does not warn about the file without records", stderr)
	}
}

// TestSettingDefaultsMatchFlags checks that the settings table (README)
// shows the defaults the flags really have.
func TestSettingDefaultsMatchFlags(t *testing.T) {
	root := newRootCmd(&env{getenv: func(string) string { return "" }, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	for _, name := range []string{"max-decompressed-bytes", "max-compression-ratio"} {
		s, ok := settingByFlag(name)
		if !ok {
			t.Errorf("no setting for --%s", name)
			continue
		}
		seen := 0
		var walk func(c *cobra.Command)
		walk = func(c *cobra.Command) {
			if f := c.Flags().Lookup(name); f != nil {
				seen++
				if f.DefValue != s.Default {
					t.Errorf("%s --%s default %q, settings table says %q", c.Name(), name, f.DefValue, s.Default)
				}
			}
			for _, sub := range c.Commands() {
				walk(sub)
			}
		}
		walk(root)
		if seen != 3 {
			t.Errorf("--%s is defined by %d commands, want 3 (run, scan and backfill)", name, seen)
		}
	}
}
