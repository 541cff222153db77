package ingest

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
)

func TestIsCorrupt(t *testing.T) {
	wrap := func(err error) error { return &cloudtrail.Error{Source: "s3://b/k", Offset: 10, Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"truncated gzip", wrap(fmt.Errorf("%w: %w", cloudtrail.ErrTruncated, io.ErrUnexpectedEOF)), true},
		{"bad gzip", wrap(cloudtrail.ErrGzip), true},
		{"not JSON", wrap(cloudtrail.ErrSyntax), true},
		{"record over the limit", wrap(cloudtrail.ErrRecordTooLarge), true},
		{"gzip bomb", wrap(cloudtrail.ErrTooLarge), true},
		{"compression ratio of a bomb", wrap(cloudtrail.ErrCompressionRatio), true},
		{"I/O error while reading", wrap(fmt.Errorf("read: %w", errors.New("connection reset by peer"))), false},
		{"plain error", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := isCorrupt(tt.err); got != tt.want {
			t.Errorf("%s: isCorrupt = %v, want %v", tt.name, got, tt.want)
		}
	}
}
