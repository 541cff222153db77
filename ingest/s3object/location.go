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
	file, rest, _ := cutLast(key)
	for range 3 { // day, month, year
		_, rest, _ = cutLast(rest)
	}
	region, _, _ = cutLast(rest)
	// ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_unique.json.gz
	parts := strings.SplitN(file, "_", 5)
	if len(parts) == 5 {
		if t, err := time.Parse("20060102T1504Z", parts[3]); err == nil {
			written = t.UTC()
		}
	}
	return account, region, written, true
}
