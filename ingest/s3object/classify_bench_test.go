package s3object

import (
	"strings"
	"testing"
)

func BenchmarkClassify(b *testing.B) {
	keys := []string{
		"AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/eu-west-1/2026/11/26/123456789012_CloudTrail_eu-west-1_20261126T1910Z_Zz99Yy88Xx77Ww66.json.gz",
		"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/26/123456789012_CloudTrail-Digest_us-east-1_mytrail_us-east-1_20261126T190000Z.json.gz",
		"exports/" + strings.Repeat("AWSLogs/", 120) + "x",
		"random/object.json.gz",
	}
	for _, k := range keys {
		b.Run(k[:min(len(k), 24)], func(b *testing.B) {
			for b.Loop() {
				Classify(k)
			}
		})
	}
}
