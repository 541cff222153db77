package backfill_test

import (
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/ingest/backfill"
)

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestParseWindow(t *testing.T) {
	tests := []struct {
		since, until string
		start, end   string // RFC 3339; start "" = error
	}{
		{"24h", "", "2026-11-30T09:00:00Z", "2026-12-01T09:00:00Z"},
		{"72h", "1h", "2026-11-28T09:00:00Z", "2026-12-01T08:00:00Z"},
		{"2026-11-30", "2026-11-30T12:30:00+01:00", "2026-11-30T00:00:00Z", "2026-11-30T11:30:00Z"},
		{"-90m", "", "2026-12-01T07:30:00Z", "2026-12-01T09:00:00Z"},
		{"1h", "2h", "", ""},
		{"", "", "", ""},
		{"yesterday", "", "", ""},
		{"24h", "soon", "", ""},
	}
	for _, tc := range tests {
		start, end, err := backfill.ParseWindow(tc.since, tc.until, now)
		if tc.start == "" {
			if err == nil {
				t.Errorf("ParseWindow(%q, %q) = %v, %v; want an error", tc.since, tc.until, start, end)
			}
			continue
		}
		if err != nil || start.Format(time.RFC3339) != tc.start || end.Format(time.RFC3339) != tc.end {
			t.Errorf("ParseWindow(%q, %q) = %v, %v, %v; want %s, %s", tc.since, tc.until, start, end, err, tc.start, tc.end)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"24h", "2026-11-30", "2026-11-30T08:00:00Z", "-5m", "", "1e9h", "2026-13-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := backfill.ParseTime(s, now)
		if err == nil && tm.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %v, not UTC", s, tm)
		}
	})
}
