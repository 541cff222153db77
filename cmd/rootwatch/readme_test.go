package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// yamlBlock returns the README's fenced yaml block that starts with prefix.
func yamlBlock(t *testing.T, readme, prefix string) string {
	t.Helper()
	i := strings.Index(readme, "```yaml\n"+prefix)
	if i < 0 {
		t.Fatalf("README has no yaml block starting with %q", prefix)
	}
	body := readme[i+len("```yaml\n"):]
	return body[:strings.Index(body, "```")]
}

// TestREADMEExamples runs the README's example rule and rule tests through
// `rootwatch rules test --builtin`, so the documentation cannot rot.
func TestREADMEExamples(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "my-root-no-mfa.yml"), []byte(yamlBlock(t, readme, "title:")), 0o644)
	os.WriteFile(filepath.Join(dir, "tests", "example.yml"), []byte(yamlBlock(t, readme, "cases:")), 0o644)

	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"rules", "test", "--builtin", dir}, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	if code != exitOK {
		t.Fatalf("README examples: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "2 passed, 0 failed") {
		t.Errorf("unexpected report:\n%s", out.String())
	}
}
