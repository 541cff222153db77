package s3object

import (
	"strings"
	"time"
)

// KeyLocation returns where a CloudTrail log key says its records come
// from: the account and region of its AWSLogs/[o-orgid/]ACCOUNT/CloudTrail/
// REGION/ path, and the time stamp of its file name
// (ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_unique, the time CloudTrail
// delivered the file, to the minute), zero when the file name has none. ok
// is false for a key Classify does not call ClassLog.
func KeyLocation(key string) (account, region string, written time.Time, ok bool) {
	c, account := parseKey(key)
	if c != ClassLog {
		return "", "", time.Time{}, false
	}
	_, rest, _ := cutLast(key)
	for range 3 { // day, month, year
		_, rest, _ = cutLast(rest)
	}
	region, _, _ = cutLast(rest)
	written, _ = KeyFileTime(key)
	return account, region, written, true
}

// keyTimeLayout is the time stamp in a CloudTrail log object's name.
const keyTimeLayout = "20060102T1504Z"

// KeyFileTime returns the time stamp in the file name of a CloudTrail log
// key (ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_unique.json.gz: when
// CloudTrail wrote the object, after every record in it), false when the
// name has none.
func KeyFileTime(key string) (time.Time, bool) {
	file := key[strings.LastIndexByte(key, '/')+1:]
	// The account and region never hold '_'.
	parts := strings.SplitN(file, "_", 5)
	if len(parts) < 5 || parts[1] != "CloudTrail" || len(parts[3]) != len(keyTimeLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(keyTimeLayout, parts[3])
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool { return isDigits(s, 12) }

// IsBucketName reports whether s can be a bucket name: 3 to 255 bytes
// (AWS allows 63; S3-compatible stores more) of lower- and upper-case
// letters, digits, '.', '-' and '_'.
func IsBucketName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IsOrgID reports whether s looks like an AWS Organizations id (o-…), the
// extra level of an organization trail's keys.
func IsOrgID(s string) bool { return isOrgID(s) }
