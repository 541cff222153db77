package notify

import (
	"errors"
	"net"
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

// CheckSecretURL is CheckURL for an endpoint that is sent a secret (a bot
// token, a routing key) or whose URL is one (a webhook): it must be https,
// except to a loopback address (localhost, 127.0.0.0/8, ::1: tests, a
// local proxy), so that a typo never sends the secret in clear text. Its
// errors do not quote the URL.
func CheckSecretURL(raw string) error {
	if err := CheckURL(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw) // parsed by CheckURL
	if u.Scheme == "https" || isLoopback(u.Hostname()) {
		return nil
	}
	return errors.New("plain http would send the secret in clear text: use https (plain http is accepted only to localhost or a loopback address)")
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
// Other names are not resolved: what a name resolves to can change.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
