package s3scan

import (
	"path"
	"strings"
	"time"
)

// keyTimeLayout is the timestamp in a CloudTrail log object's name:
// ACCOUNT_CloudTrail_REGION_20261201T0805Z_UNIQUE.json.gz.
const keyTimeLayout = "20060102T1504Z"

// KeyTime returns the timestamp in the name of a CloudTrail log object key
// (the time CloudTrail wrote the object, after every record in it), and
// false when the name has none.
func KeyTime(key string) (time.Time, bool) {
	name := path.Base(key)
	// The account and region never hold '_'; the timestamp is the part
	// after the region: ACCOUNT _ CloudTrail _ REGION _ TIME _ UNIQUE...
	parts := strings.SplitN(name, "_", 5)
	if len(parts) < 5 || parts[1] != "CloudTrail" {
		return time.Time{}, false
	}
	ts := parts[3]
	if len(ts) != len(keyTimeLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(keyTimeLayout, ts)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// isAccountID reports whether s is a 12-digit AWS account id.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isOrgID reports whether s looks like an AWS Organizations id (o-…), the
// extra level of an organization trail's keys.
func isOrgID(s string) bool {
	if len(s) < 12 || len(s) > 34 || !strings.HasPrefix(s, "o-") {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// TrailPrefix normalizes the prefix of an s3://bucket/prefix argument to
// the trail's key prefix, the part before AWSLogs/: "" or ending in "/". A
// prefix that already ends in AWSLogs (with or without the slash) is cut
// before it.
func TrailPrefix(prefix string) string {
	prefix = strings.TrimLeft(prefix, "/")
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "AWSLogs" {
		return ""
	}
	prefix = strings.TrimSuffix(prefix, "/AWSLogs")
	if prefix == "" {
		return ""
	}
	return prefix + "/"
}
