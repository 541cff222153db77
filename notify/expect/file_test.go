package expect

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "expectations.yml"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := Parse("expectations.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("got %d expectations", len(list))
	}
	if e := list[0]; e.Ends != t0.Add(2*time.Hour) || e.Reason != "SEC-123 close sandbox" || len(e.Rules) != 0 {
		t.Errorf("first = %+v", e)
	}
	if e := list[1]; e.Scope() != "rules root-console-login,root-api-call from 203.0.113.0/24,2001:db8::/32,198.51.100.7/32" {
		t.Errorf("second scope = %q", e.Scope())
	}
}

// TestParseErrors: hostile or mistaken files fail with the file, line and
// what is wrong.
func TestParseErrors(t *testing.T) {
	const head = "expectations:\n  - id: e-1\n    account: \"111122223333\"\n    reason: SEC-1\n    by: alice\n    start: 2026-11-20T09:00:00Z\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field", head + "    for: 1h\n    acount: x\n", "f.yml:8: expectation: unknown field \"acount\""},
		{"unknown top-level field", "expectation: []\n", "f.yml:1: file: unknown field \"expectation\""},
		{"bad CIDR", head + "    for: 1h\n    source_cidrs: [10.0.0.0/8, 10.1.2.3/40]\n", "f.yml:8: source CIDR \"10.1.2.3/40\" is neither"},
		{"bad duration", head + "    for: 2 hours\n", "f.yml:7: for \"2 hours\": want a positive duration"},
		{"negative duration", head + "    for: -1h\n", "f.yml:7: for \"-1h\""},
		{"bad time", head + "    ends: tomorrow\n", "f.yml:7: ends \"tomorrow\": want an RFC 3339 time"},
		{"ends and for", head + "    ends: 2026-11-20T10:00:00Z\n    for: 1h\n", "f.yml:8: give either ends or for"},
		{"no end", head, "f.yml:2: expectation: ends (or for) is required"},
		{"no reason", "expectations:\n  - id: e-1\n    account: \"111122223333\"\n    by: a\n    start: 2026-11-20T09:00:00Z\n    for: 1h\n", "f.yml:2: expectation: reason is required"},
		{"too long", head + "    for: 200h\n", "f.yml:2: lasts 200h0m0s, longer than the maximum"},
		{"ends before start", head + "    ends: 2026-11-20T08:00:00Z\n", "f.yml:2: ends (2026-11-20T08:00:00Z) before it starts"},
		{"account as a number", strings.Replace(head, `"111122223333"`, "11112222333", 1) + "    for: 1h\n", "f.yml:2: account \"11112222333\" is not 12 digits"},
		{"duplicate id", head + "    for: 1h\n" + strings.Replace(head, "expectations:\n", "", 1) + "    for: 1h\n", "f.yml:8: id \"e-1\" already used at line 2"},
		{"duplicate key", head + "    for: 1h\n    by: bob\n", "f.yml:8: expectation: duplicate key \"by\""},
		{"anchors", "expectations:\n  - &a {id: e-1}\n", "f.yml:2: YAML anchors and aliases are not supported"},
		{"not a list", "expectations: {id: e-1}\n", "f.yml:1: expectations must be a list"},
		{"control character in reason", strings.Replace(head, "SEC-1", "\"SEC-1\\u0007\"", 1) + "    for: 1h\n", "f.yml:2: reason contains control characters"},
		{"two documents", head + "    for: 1h\n---\n{}\n", "f.yml:8: only one YAML document"},
		{"syntax", "expectations: [\n", "f.yml: yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yml", []byte(tc.doc))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v\nwant ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	if list, err := Parse("f.yml", []byte("# nothing yet\n")); err != nil || len(list) != 0 {
		t.Errorf("empty file: %v, %v", list, err)
	}
	if _, err := Parse("f.yml", []byte(strings.Repeat(" ", MaxFileBytes+1))); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "expectations.yml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("expectations: [{id: e-1, for: 1h}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := Parse("fuzz.yml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		for _, e := range list {
			if err := e.Validate(); err != nil {
				t.Fatalf("Parse returned an invalid expectation %+v: %v", e, err)
			}
		}
	})
}

// TestFileStore: Add, List and End round-trip through the file, which is
// read again when it changes on disk (an edit by hand) and pruned of what
// ended long ago when written.
func TestFileStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "expectations.yml")
	s := NewFile(path)
	s.now = func() time.Time { return t0 }
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("missing file: %v, %v", list, err)
	}
	e, err := Declare(t0, "111122223333", 2*time.Hour, "SEC-123 close sandbox", "alice", []string{"root-api-call"}, []string{"203.0.113.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, e); !errors.Is(err, ErrExists) {
		t.Errorf("second Add: %v, want ErrExists", err)
	}
	// A second store (another process) reads what the first wrote.
	other := NewFile(path)
	other.now = s.now
	list, err := other.List(ctx)
	if err != nil || len(list) != 1 || list[0].String() != e.String() || list[0].Scope() != e.Scope() {
		t.Fatalf("List = %+v, %v", list, err)
	}
	ended, err := other.End(ctx, e.ID, t0.Add(30*time.Minute), "bob")
	if err != nil || ended.Ends != t0.Add(30*time.Minute) || ended.EndedBy != "bob" {
		t.Fatalf("End = %+v, %v", ended, err)
	}
	if _, err := other.End(ctx, "e-nope", t0, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("End of an unknown id: %v", err)
	}
	list, _ = s.List(ctx)
	if len(list) != 1 || list[0].Ends != t0.Add(30*time.Minute) {
		t.Errorf("after End, the first store lists %+v", list)
	}
	// Edited by hand: a new entry appears on the next List.
	data, _ := os.ReadFile(path)
	data = append(data, []byte("  - {id: e-hand, account: \"444455556666\", reason: drill, by: carol, start: 2026-11-20T09:00:00Z, for: 1h}\n")...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 2 || list[1].ID != "e-hand" {
		t.Fatalf("after the edit: %+v, %v", list, err)
	}
	// Broken by hand: the error names the file and line.
	if err := os.WriteFile(path, append(data, []byte("  - {id: e-bad, account: x}\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx); err == nil || !strings.Contains(err.Error(), path+":") {
		t.Errorf("broken file: %v", err)
	}
	if err := s.Add(ctx, e); err == nil {
		t.Error("Add to a broken file succeeded")
	}
	// Writes drop what ended more than Retention ago.
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0.Add(Retention + 31*time.Minute) }
	late, _ := Declare(s.now(), "111122223333", time.Hour, "later", "alice", nil, nil)
	if err := s.Add(ctx, late); err != nil {
		t.Fatal(err)
	}
	list, _ = s.List(ctx)
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	if strings.Join(ids, ",") != "e-hand,"+late.ID {
		t.Errorf("after pruning: %v", ids)
	}
}
