package s3scan

import (
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/ingest/s3object"
)

// KeyTime returns the timestamp in the name of a CloudTrail log object key
// (the time CloudTrail wrote the object, after every record in it), and
// false when the name has none: s3object.KeyFileTime.
func KeyTime(key string) (time.Time, bool) { return s3object.KeyFileTime(key) }

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
