package notify

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Helpers shared by the HTTP integrations (notify/slack, notify/pagerduty).

// CheckURL accepts an absolute http(s) URL. Its errors do not quote the
// URL, which may be a secret.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return errors.New("scheme must be https (or http for tests)")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// ParseRetryAfter reads a Retry-After header in seconds or as an HTTP date;
// 0 when absent or unreadable.
func ParseRetryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
