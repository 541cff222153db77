package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
)

// FuzzDecode compares, for arbitrary input, the records the decoder yields
// with what encoding/json finds (see oracle), plain and gzipped, with the
// default buffer and with a tiny one fed a byte at a time:
//
//   - input encoding/json accepts yields exactly the oracle's records, in
//     order, byte for byte, then io.EOF;
//   - on input it rejects, the records of the top-level values before the
//     damage come first, and then either Next fails or a yielded record is
//     invalid JSON (which the field extractor rejects downstream);
//   - every error is an *Error, and Next keeps returning it (decodeAll).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"Records":[{"a":1},{"b":"}\"\\"}]}`))
	f.Add([]byte("{\"a\":1}\n{\"b\":[2]}\n"))
	f.Add([]byte(`{"detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"x"}}`))
	f.Add([]byte(`{"Events":[{"EventId":"1","CloudTrailEvent":"{\"eventName\":\"x\",\"s\":\"}\\\"\"}"}],"NextToken":"t"}{"Events":[]}`))
	f.Add([]byte(`{"Events":[{"CloudTrailEvent":" {} "},{"CloudTrailEvent":"[]"}]}`))
	f.Add([]byte(`{"awsAccountId":"1","digestStartTime":"a","digestEndTime":"b","logFiles":[]}`))
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := oracle(data)
		recs, err := decodeAll(t, bytes.NewReader(data), Options{}, blockSize)
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			// Read as gzip: only the error contract is checked here.
			checkOracle(t, "as-gzip", nil, errors.New("unknown"), nil, err)
		} else {
			checkOracle(t, "plain", want, werr, recs, err)
			recs, err = decodeAll(t, iotest.OneByteReader(bytes.NewReader(data)), Options{}, 16)
			checkOracle(t, "one-byte", want, werr, recs, err)
		}

		zbuf.Reset()
		zw.Reset(&zbuf)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		recs, err = decodeAll(t, iotest.HalfReader(bytes.NewReader(zbuf.Bytes())), Options{}, 32)
		checkOracle(t, "gzip", want, werr, recs, err)
	})
}

func checkOracle(t *testing.T, variant string, want [][]byte, werr error, recs [][]byte, err error) {
	t.Helper()
	if err != io.EOF {
		var de *Error
		if !errors.As(err, &de) {
			t.Fatalf("%s: error %v (%T) is not *Error", variant, err, err)
		}
	}
	if werr == nil {
		if err != io.EOF {
			t.Fatalf("%s: encoding/json accepts the input, decoder failed: %v", variant, err)
		}
		if len(recs) != len(want) {
			t.Fatalf("%s: %d records, encoding/json finds %d:\n got %q\nwant %q", variant, len(recs), len(want), recs, want)
		}
	}
	if len(recs) < len(want) {
		t.Fatalf("%s: %d records before the damage, encoding/json finds %d:\n got %q\nwant %q (%v)", variant, len(recs), len(want), recs, want, err)
	}
	for i := range want {
		if !bytes.Equal(recs[i], want[i]) {
			t.Fatalf("%s: record %d:\n got %q\nwant %q", variant, i, recs[i], want[i])
		}
	}
	if werr != nil && err == io.EOF && want != nil {
		for _, r := range recs {
			if !json.Valid(r) {
				return // rejected downstream
			}
		}
		t.Fatalf("%s: encoding/json rejects the input (%v) but the decoder accepted it: %q", variant, werr, recs)
	}
}

// FuzzDecodeLimits checks the size limits on arbitrary input accepted by
// encoding/json, with small limits taken from the fuzzer: the records
// yielded are always a prefix of the oracle's, none longer than
// MaxRecordBytes nor ending past MaxDecompressedBytes; the only errors are
// ErrRecordTooLarge and ErrTooLarge, each only when its limit is really
// exceeded; and input within both limits decodes completely.
func FuzzDecodeLimits(f *testing.F) {
	f.Add([]byte(`{"Records":[{"a":1},{"b":"xxxxxxxxxxxxxxxxxxxx"}]}`), uint16(10), uint16(40))
	f.Add([]byte("{\"a\":1}\n{\"b\":[2,3,4,5,6]}\n"), uint16(12), uint16(0))
	f.Add([]byte(`{"x":"yyyyyyyyyyyyyyyy","Records":[{"a":1}]}`), uint16(8), uint16(0))
	f.Add([]byte(`{"Events":[{"CloudTrailEvent":"{\"a\":\"xxxxxxxxxxxx\"}","EventId":"e"}]}`), uint16(20), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, maxRec, maxTotal uint16) {
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return
		}
		want, werr := oracle(data)
		if werr != nil {
			return
		}
		opts := Options{MaxRecordBytes: int64(maxRec), MaxDecompressedBytes: int64(maxTotal)}
		d := NewDecoder(bytes.NewReader(data), opts)
		d.initSize = 16
		defer d.Close()
		var n int
		var err error
		for {
			var rec []byte
			if rec, err = d.Next(); err != nil {
				break
			}
			if n >= len(want) || !bytes.Equal(rec, want[n]) {
				t.Fatalf("record %d = %q, not the oracle's %q", n, rec, want)
			}
			if maxRec > 0 && len(rec) > int(maxRec) {
				t.Fatalf("record of %d bytes with MaxRecordBytes %d", len(rec), maxRec)
			}
			if maxTotal > 0 && d.Offset() > int64(maxTotal) {
				t.Fatalf("record ends at %d with MaxDecompressedBytes %d", d.Offset(), maxTotal)
			}
			n++
		}
		recLimit := maxRec == 0 || len(data) <= int(maxRec) // every value fits
		totalLimit := maxTotal == 0 || len(data) <= int(maxTotal)
		switch {
		case err == io.EOF:
			if n != len(want) {
				t.Fatalf("io.EOF after %d records, want %d", n, len(want))
			}
		case errors.Is(err, ErrRecordTooLarge):
			if recLimit {
				t.Fatalf("%v, but the whole input is %d bytes", err, len(data))
			}
		case errors.Is(err, ErrTooLarge):
			if totalLimit {
				t.Fatalf("%v, but the input is %d bytes", err, len(data))
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if recLimit && totalLimit && err != io.EOF {
			t.Fatalf("input within the limits failed: %v", err)
		}
	})
}
