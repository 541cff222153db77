package s3scan_test

import (
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/ingest/s3scan"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in             string
		bucket, prefix string
		wantErr        string
	}{
		{in: "s3://trail", bucket: "trail"},
		{in: "s3://trail/", bucket: "trail"},
		{in: "s3://trail/org/logs", bucket: "trail", prefix: "org/logs"},
		{in: "s3:///prefix", wantErr: "no bucket"},
		{in: "s3://", wantErr: "no bucket"},
		{in: "trail/prefix", wantErr: "not an s3:// URL"},
	}
	for _, tt := range tests {
		b, p, err := s3scan.ParseURL(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseURL(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tt.in, b, p, err, tt.bucket, tt.prefix)
		}
	}
}

// FuzzParseURL: any input either fails or gives a non-empty bucket without
// a slash, and the URL is rebuilt from the parts.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://trail/org/logs", "s3://", "s3:///x", "trail"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, p, err := s3scan.ParseURL(s)
		if err != nil {
			return
		}
		if b == "" || strings.Contains(b, "/") {
			t.Fatalf("ParseURL(%q): bucket %q", s, b)
		}
		if rebuilt := "s3://" + b + "/" + p; rebuilt != s && rebuilt != s+"/" {
			t.Fatalf("ParseURL(%q) = %q, %q: does not rebuild the URL", s, b, p)
		}
	})
}

func TestStatsAdd(t *testing.T) {
	a := s3scan.Stats{Accounts: 1, Partitions: 2, Listed: 3, Selected: 4, Objects: 5, Failed: 6, Records: 7, Detections: 8, Bytes: 9}
	var total s3scan.Stats
	total.Add(a)
	total.Add(a)
	want := s3scan.Stats{Accounts: 2, Partitions: 4, Listed: 6, Selected: 8, Objects: 10, Failed: 12, Records: 14, Detections: 16, Bytes: 18}
	if total != want {
		t.Fatalf("total %+v, want %+v", total, want)
	}
}
