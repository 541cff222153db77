package s3object

import (
	"strings"
	"testing"
	"time"
)

func TestKeyLocation(t *testing.T) {
	at := time.Date(2026, 11, 20, 9, 5, 0, 0, time.UTC)
	tests := []struct {
		key             string
		account, region string
		written         time.Time
		ok              bool
	}{
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0905Z_zeg8Psh4487Q7j58.json.gz", "111122223333", "us-east-1", at, true},
		{"prefix/a/AWSLogs/o-abcdefghij/444455556666/CloudTrail/us-gov-west-1/2026/11/20/444455556666_CloudTrail_us-gov-west-1_20261120T0905Z_x.json.gz", "444455556666", "us-gov-west-1", at, true},
		{"AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/copy.json", "111122223333", "eu-west-1", time.Time{}, true},
		{"AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/a_b_c_2026-11-20_x.json", "111122223333", "eu-west-1", time.Time{}, true},
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_x_20261120T0905Z.json.gz", "", "", time.Time{}, false},
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/", "", "", time.Time{}, false},
		{"random/key.json.gz", "", "", time.Time{}, false},
	}
	for _, tt := range tests {
		a, r, w, ok := KeyLocation(tt.key)
		if a != tt.account || r != tt.region || !w.Equal(tt.written) || ok != tt.ok {
			t.Errorf("KeyLocation(%q) = %q, %q, %v, %v; want %q, %q, %v, %v", tt.key, a, r, w, ok, tt.account, tt.region, tt.written, tt.ok)
		}
	}
}

func TestIsBucketName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"my-trail-bucket", true},
		{"a.b_c-D9", true},
		{"abc", true},
		{"ab", false},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
		{"arn:aws:s3:::bucket", false},
		{"s3://bucket", false},
		{"bucket/prefix", false},
		{"bück", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsBucketName(tt.in); got != tt.want {
			t.Errorf("IsBucketName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
