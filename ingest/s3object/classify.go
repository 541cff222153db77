// Package s3object decides which S3 object keys hold CloudTrail logs and
// opens those objects as bounded streams, classifying failures as permanent
// or transient for the caller's acknowledgement decision.
package s3object

import "strings"

// KeyClass is what kind of CloudTrail delivery an object key names.
type KeyClass int

// Key classes. The zero value is ClassOther, so an unclassified key is
// skipped, never read.
const (
	ClassOther    KeyClass = iota // not a CloudTrail log, digest or Insights file
	ClassLog                      // a CloudTrail log file: read it
	ClassDigest                   // a log-file integrity digest (CloudTrail-Digest): skip
	ClassInsights                 // a CloudTrail Insights file (CloudTrail-Insight): skip
)

// String returns a short name safe to use as a metric label value.
func (c KeyClass) String() string {
	switch c {
	case ClassLog:
		return "log"
	case ClassDigest:
		return "digest"
	case ClassInsights:
		return "insights"
	default:
		return "other"
	}
}

// Classify says what kind of CloudTrail object key names. The keys
// CloudTrail writes are
//
//	[prefix/]AWSLogs/[o-orgid/]ACCOUNT/CloudTrail[-Digest|-Insight]/REGION/YYYY/MM/DD/FILE
//
// where the optional prefix is the trail's S3 key prefix (it may contain
// slashes) and o-orgid appears for organization trails. Account ids have 12
// digits, organization ids are "o-" and 10 to 32 lower-case letters or
// digits, regions look like us-east-1 or us-gov-west-1, and the date is
// numeric with a valid month (01-12) and day (01-31). Log files are the keys
// under CloudTrail/ whose file name ends in ".json.gz" (what CloudTrail
// writes) or ".json" (uncompressed copies, which the decoder reads too);
// other names under CloudTrail/ are ClassOther. Keys are compared exactly,
// case included. Classify runs in time linear in len(key) without
// allocating.
func Classify(key string) KeyClass {
	c, _ := parseKey(key)
	return c
}

// KeyAccount returns the account id a CloudTrail key is filed under: ACCOUNT
// in AWSLogs/ACCOUNT/ or AWSLogs/o-orgid/ACCOUNT/ (the account whose
// activity the file holds; for an organization trail, the member account).
// It is "" for a key Classify calls ClassOther.
func KeyAccount(key string) string {
	c, account := parseKey(key)
	if c == ClassOther {
		return ""
	}
	return account
}

// parseKey classifies key and returns its account segment, which is only
// meaningful when the class is not ClassOther.
func parseKey(key string) (KeyClass, string) {
	// Walk the fixed-length tail of the path from the right.
	file, rest, ok := cutLast(key)
	if !ok || file == "" {
		return ClassOther, ""
	}
	var seg [6]string // day, month, year, region, kind, account
	for i := range seg {
		if seg[i], rest, ok = cutLast(rest); !ok {
			return ClassOther, ""
		}
	}
	day, month, year, region, kind, account := seg[0], seg[1], seg[2], seg[3], seg[4], seg[5]
	if !isDigits(account, 12) || !isRegion(region) || !isDigits(year, 4) ||
		!inRange(month, 1, 12) || !inRange(day, 1, 31) {
		return ClassOther, ""
	}
	top, before, ok := cutLast(rest)
	if top != "AWSLogs" {
		if !ok || !isOrgID(top) {
			return ClassOther, ""
		}
		if top, _, _ = cutLast(before); top != "AWSLogs" {
			return ClassOther, ""
		}
	}
	switch kind {
	case "CloudTrail":
		if strings.HasSuffix(file, ".json.gz") || strings.HasSuffix(file, ".json") {
			return ClassLog, account
		}
	case "CloudTrail-Digest":
		return ClassDigest, account
	case "CloudTrail-Insight":
		return ClassInsights, account
	}
	return ClassOther, ""
}

// cutLast splits s at its last slash into the segment after it and the text
// before it; ok is false when s has no slash (seg is then all of s).
func cutLast(s string) (seg, before string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return s, "", false
	}
	return s[i+1:], s[:i], true
}

// isDigits reports whether s is exactly n ASCII digits.
func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// inRange reports whether s is two digits with a value in [lo, hi].
func inRange(s string, lo, hi int) bool {
	if !isDigits(s, 2) {
		return false
	}
	v := int(s[0]-'0')*10 + int(s[1]-'0')
	return v >= lo && v <= hi
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// isOrgID reports whether s is an AWS Organizations id, o-[a-z0-9]{10,32}.
func isOrgID(s string) bool {
	if len(s) < 12 || len(s) > 34 || s[0] != 'o' || s[1] != '-' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !isLower(s[i]) && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// isRegion reports whether s looks like an AWS region name,
// [a-z]{2}(-[a-z]+)+-[0-9]{1,2}: us-east-1, us-gov-west-1, ap-southeast-5.
func isRegion(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return false
	}
	if num := s[i+1:]; !isDigits(num, 1) && !isDigits(num, 2) {
		return false
	}
	words := 0
	for part := range strings.SplitSeq(s[:i], "-") {
		words++
		if part == "" || (words == 1 && len(part) != 2) {
			return false
		}
		for j := 0; j < len(part); j++ {
			if !isLower(part[j]) {
				return false
			}
		}
	}
	return words >= 2
}
