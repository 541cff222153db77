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
