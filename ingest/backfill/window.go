package backfill

import (
	"fmt"
	"strings"
	"time"
)

// ParseTime reads a window bound: an RFC 3339 time
// ("2026-11-30T08:00:00Z"), a UTC date ("2026-11-30"), or a duration
// before now ("90m", "72h", "-2h": the sign is ignored). The result is in
// UTC.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(s, "-"))
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither a time (2026-11-30T08:00:00Z, 2026-11-30) nor a duration before now (72h)", s)
	}
	return now.Add(-d).UTC(), nil
}

// ParseWindow reads --since and --until (until empty: now) into a window,
// Start before End.
func ParseWindow(since, until string, now time.Time) (start, end time.Time, err error) {
	end = now.UTC()
	if until != "" {
		if end, err = ParseTime(until, now); err != nil {
			return start, end, fmt.Errorf("--until: %w", err)
		}
	}
	if start, err = ParseTime(since, now); err != nil {
		return start, end, fmt.Errorf("--since: %w", err)
	}
	if !start.Before(end) {
		return start, end, fmt.Errorf("--since %s is not before --until %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return start, end, nil
}
