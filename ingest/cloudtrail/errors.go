package cloudtrail

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped by *Error and matched with errors.Is.
var (
	// ErrRecordTooLarge means one record (or one skipped top-level value)
	// is longer than Options.MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrTooLarge means the decompressed input is longer than
	// Options.MaxDecompressedBytes (a gzip bomb, or a runaway object).
	ErrTooLarge = errors.New("decompressed input too large")
	// ErrCompressionRatio means a gzip input inflates to more than
	// Options.MaxCompressionRatio times its compressed size (checked once
	// RatioCheckMinBytes were inflated): a decompression bomb, never a
	// CloudTrail log.
	ErrCompressionRatio = errors.New("compression ratio too high")
	// ErrTruncated means the input ended inside a value, or the gzip
	// stream ended before its trailer.
	ErrTruncated = errors.New("truncated input")
	// ErrSyntax means the input is not JSON of an accepted shape.
	ErrSyntax = errors.New("invalid JSON")
	// ErrDigestFile means the input is a CloudTrail digest file (an object
	// with digestStartTime and digestEndTime keys): it holds hashes of log
	// files and no events. Callers skip it explicitly or report it; it is
	// never read as a record.
	ErrDigestFile = errors.New("CloudTrail digest file, not a log: it holds no events")
	// ErrGzip means the input starts like gzip but is not a valid gzip
	// stream (bad header, corrupt data, checksum or length mismatch).
	ErrGzip = errors.New("invalid gzip stream")
)

// errClosed is returned by Next after Close.
var errClosed = errors.New("decoder closed")

// Error is the error returned by Decoder.Next for anything but io.EOF. It
// names the input and the decompressed byte offset at which the problem was
// found.
type Error struct {
	// Source names the input, as given in Options.Source.
	Source string
	// Offset is the decompressed byte offset of the problem.
	Offset int64
	// Err is the reason; it wraps one of the sentinel errors, or the
	// reader's own error for an I/O failure.
	Err error
}

// Error formats the error as "SOURCE: at byte OFFSET: REASON".
func (e *Error) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("at byte %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: at byte %d: %v", e.Source, e.Offset, e.Err)
}

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }
