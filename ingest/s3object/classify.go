// Package s3object decides which S3 object keys hold CloudTrail logs and
// opens those objects as bounded streams, classifying failures as permanent
// or transient for the caller's acknowledgement decision.
package s3object

import (
	"regexp"
	"strings"
)

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

// keyPattern matches the keys CloudTrail writes:
//
//	[prefix/]AWSLogs/[o-orgid/]ACCOUNT/CloudTrail[-Digest|-Insight]/REGION/YYYY/MM/DD/FILE
//
// The optional prefix is the trail's S3 key prefix (it may contain slashes);
// o-orgid appears for organization trails. Account ids have 12 digits,
// organization ids are o- followed by 10 to 32 lower-case letters or digits,
// regions look like us-east-1 or us-gov-west-1, and the date is numeric with
// a valid month and day. RE2 guarantees matching in linear time.
var keyPattern = regexp.MustCompile(`^(?:.*/)?AWSLogs/(?:o-[a-z0-9]{10,32}/)?[0-9]{12}/` +
	`(CloudTrail|CloudTrail-Digest|CloudTrail-Insight)/` +
	`[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}/` +
	`[0-9]{4}/(?:0[1-9]|1[0-2])/(?:0[1-9]|[12][0-9]|3[01])/` +
	`([^/]+)$`)

// Classify says what kind of CloudTrail object key names. Log files are the
// keys under CloudTrail/ whose file name ends in ".json.gz" (what CloudTrail
// writes) or ".json" (uncompressed copies, also readable by the decoder);
// other names under CloudTrail/ are ClassOther. Keys are compared exactly,
// case included.
func Classify(key string) KeyClass {
	if !strings.Contains(key, "AWSLogs/") {
		return ClassOther // fast path for unrelated keys
	}
	m := keyPattern.FindStringSubmatch(key)
	if m == nil {
		return ClassOther
	}
	switch m[1] {
	case "CloudTrail":
		if strings.HasSuffix(m[2], ".json.gz") || strings.HasSuffix(m[2], ".json") {
			return ClassLog
		}
		return ClassOther
	case "CloudTrail-Digest":
		return ClassDigest
	default:
		return ClassInsights
	}
}
