package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
)

// readVariant is one way of feeding input to the decoder, to exercise
// buffer refills, compaction and growth at every byte boundary.
type readVariant struct {
	name     string
	wrap     func(io.Reader) io.Reader
	initSize int
}

var readVariants = []readVariant{
	{"default", func(r io.Reader) io.Reader { return r }, blockSize},
	{"one-byte-tiny-buffer", iotest.OneByteReader, 16},
	{"half-small-buffer", iotest.HalfReader, 64},
	{"data-err", iotest.DataErrReader, 32},
}

// decodeAll runs a decoder to its end and returns the records (copied) and
// the final error (io.EOF on success).
func decodeAll(t testing.TB, r io.Reader, opts Options, initSize int) ([][]byte, error) {
	t.Helper()
	d := NewDecoder(r, opts)
	d.initSize = initSize
	defer d.Close()
	var recs [][]byte
	for {
		rec, err := d.Next()
		if err != nil {
			if rec != nil {
				t.Fatalf("Next returned a record with error %v", err)
			}
			again, err2 := d.Next()
			if again != nil || err2 != err {
				t.Fatalf("Next after error = %q, %v; want the same error %v", again, err2, err)
			}
			return recs, err
		}
		if len(rec) < 2 || rec[0] != '{' || rec[len(rec)-1] != '}' {
			t.Fatalf("record is not an object: %q", rec)
		}
		recs = append(recs, bytes.Clone(rec))
	}
}

func gz(t testing.TB, parts ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strs(recs [][]byte) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r)
	}
	return out
}

func TestDecode(t *testing.T) {
	logRoot := readFixture(t, "log-root.json")
	logRecs, err := oracle(logRoot)
	if err != nil || len(logRecs) != 3 {
		t.Fatalf("fixture log-root.json: %d records, %v", len(logRecs), err)
	}
	ebOne := readFixture(t, "eventbridge-consolelogin.json")
	ebOneRecs, _ := oracle(ebOne)
	ebLines := readFixture(t, "eventbridge-lines.jsonl")
	ebLinesRecs, _ := oracle(ebLines)
	jsonl := readFixture(t, "records.jsonl")
	jsonlRecs, _ := oracle(jsonl)
	long := `{"k":"` + strings.Repeat("x", 300) + `"}`
	lookup := readFixture(t, "lookup-events-pages.json")
	// The fixture's CloudTrailEvent strings are log-root.json's records.
	lookupRecs, err := oracle(lookup)
	if err != nil || len(lookupRecs) != len(logRecs) {
		t.Fatalf("fixture lookup-events-pages.json: %d records, %v", len(lookupRecs), err)
	}
	for i := range logRecs {
		var a, b any
		if json.Unmarshal(logRecs[i], &a) != nil || json.Unmarshal(lookupRecs[i], &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("fixture lookup-events-pages.json: event %d is not log-root.json's record %d", i, i)
		}
	}
	digest := readFixture(t, "digest.json")

	tests := []struct {
		name    string
		in      []byte
		opts    Options
		want    []string
		wantErr error // nil means a clean io.EOF
		wantOff int64 // checked when wantErr != nil and wantOff >= 0
	}{
		{name: "log object", in: []byte(`{"Records":[{"a":1},{"b":[2,{"c":null}]}]}`),
			want: []string{`{"a":1}`, `{"b":[2,{"c":null}]}`}},
		{name: "log object fixture", in: logRoot, want: strs(logRecs)},
		{name: "log object gzip fixture", in: readFixture(t, "log-root.json.gz"), want: strs(logRecs)},
		{name: "concatenated gzip members split mid-record", in: readFixture(t, "concat-members.json.gz"), want: strs(logRecs)},
		{name: "gzip member per log object", in: gz(t, []byte(`{"Records":[{"a":1}]}`), []byte(`{"Records":[{"b":2}]}`)),
			want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "pretty printed", in: []byte("{\r\n\t\"Records\" :\n [\n  {\n   \"a\": 1\n  } ,\n\t{ }\n ]\n}\n"),
			want: []string{"{\n   \"a\": 1\n  }", "{ }"}},
		{name: "empty Records", in: []byte(`{"Records":[]}`)},
		{name: "empty Records with spaces", in: []byte(` { "Records" : [ ] } `)},
		{name: "empty input"},
		{name: "whitespace only", in: []byte(" \n\t\r\n")},
		{name: "other keys before and after Records",
			in:   []byte(`{"x":{"Records":[{"no":1}]},"n":-1.5e3,"t":true,"s":"]}","Records":[{"a":1}],"z":[null,{"q":"}"}]}`),
			want: []string{`{"a":1}`}},
		{name: "two Records arrays", in: []byte(`{"Records":[{"a":1}],"Records":[{"b":2}]}`),
			want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "escaped Records key", in: []byte(`{"Rec\u006frds":[{"a":1}]}`), want: []string{`{"a":1}`}},
		{name: "Records not an array is a plain record", in: []byte(`{"Records":null,"a":1}`),
			want: []string{`{"Records":null,"a":1}`}},
		{name: "braces quotes and escapes in strings",
			in:   []byte(`{"Records":[{"ua":"a}\"b\\","n":{"x":"]\\\"}"}},{"c":"\\\\","d":"\u0022}"}]}`),
			want: []string{`{"ua":"a}\"b\\","n":{"x":"]\\\"}"}}`, `{"c":"\\\\","d":"\u0022}"}`}},
		{name: "JSON Lines", in: jsonl, want: strs(jsonlRecs)},
		{name: "concatenated objects without separator", in: []byte(`{"a":1}{"b":2}  {"c":3}`),
			want: []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}},
		{name: "EventBridge single", in: ebOne, want: strs(ebOneRecs)},
		{name: "EventBridge lines", in: ebLines, want: strs(ebLinesRecs)},
		{name: "EventBridge gzip", in: gz(t, ebLines), want: strs(ebLinesRecs)},
		{name: "EventBridge last detail wins", in: []byte(`{"detail":{"a":1},"detail-type":"x","detail":{"b":2}}`),
			want: []string{`{"b":2}`}},
		{name: "detail without detail-type is a plain record", in: []byte(`{"detail":{"a":1}}`),
			want: []string{`{"detail":{"a":1}}`}},
		{name: "mixed log object and lines", in: []byte("{\"Records\":[{\"a\":1}]}\n{\"b\":2}\n"),
			want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "lookup-events pages concatenated (CLI --output json)", in: lookup, want: strs(lookupRecs)},
		{name: "lookup-events gzip", in: gz(t, lookup), want: strs(lookupRecs)},
		{name: "lookup-events CloudTrailEvent string decoded",
			in:   []byte(`{"Events":[{"EventId":"1","CloudTrailEvent":"{\"a\":\"}\\\"\",\"b\":\"\\u00e9\"}","Resources":[{"ResourceType":"x"}]}],"NextToken":"t"}`),
			want: []string{`{"a":"}\"","b":"\u00e9"}`}},
		{name: "lookup-events whitespace around the event trimmed", in: []byte(`{"Events":[{"CloudTrailEvent":" \n{\"a\":1}\t "}]}`),
			want: []string{`{"a":1}`}},
		{name: "lookup-events last CloudTrailEvent wins", in: []byte(`{"Events":[{"CloudTrailEvent":"{\"a\":1}","CloudTrailEvent":"{\"b\":2}"}]}`),
			want: []string{`{"b":2}`}},
		{name: "lookup-events empty page", in: []byte(`{"Events":[],"NextToken":"t"}` + "\n" + `{"Events":[]}`)},
		{name: "lookup-events after a log object", in: []byte(`{"Records":[{"a":1}]}{"NextToken":null,"Events":[{"CloudTrailEvent":"{\"b\":2}"}]}`),
			want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "Events not an array is a plain record", in: []byte(`{"Events":"x","a":1}`),
			want: []string{`{"Events":"x","a":1}`}},
		{name: "lookup-events element without CloudTrailEvent", in: []byte(`{"Events":[{"CloudTrailEvent":"{\"a\":1}"},{"EventId":"2"}]}`),
			want: []string{`{"a":1}`}, wantErr: ErrSyntax, wantOff: 43},
		{name: "lookup-events CloudTrailEvent not a string", in: []byte(`{"Events":[{"CloudTrailEvent":{"a":1}}]}`),
			wantErr: ErrSyntax, wantOff: 11},
		{name: "lookup-events CloudTrailEvent not an object", in: []byte(`{"Events":[{"CloudTrailEvent":"[1]"}]}`),
			wantErr: ErrSyntax, wantOff: 11},
		{name: "lookup-events CloudTrailEvent null", in: []byte(`{"Events":[{"CloudTrailEvent":null}]}`),
			wantErr: ErrSyntax, wantOff: 11},
		{name: "lookup-events element not an object", in: []byte(`{"Events":["x"]}`),
			wantErr: ErrSyntax, wantOff: 11},
		{name: "lookup-events element invalid", in: []byte(`{"Events":[{"CloudTrailEvent":"{}",x}]}`),
			wantErr: ErrSyntax, wantOff: -1},
		{name: "digest file", in: digest, wantErr: ErrDigestFile, wantOff: 0},
		{name: "digest file gzip after a log object", in: gz(t, []byte(`{"Records":[{"a":1}]}`+"\n"), digest),
			want: []string{`{"a":1}`}, wantErr: ErrDigestFile, wantOff: 22},

		{name: "truncated mid-record", in: []byte(`{"Records":[{"a":1},{"b":"x}`),
			want: []string{`{"a":1}`}, wantErr: ErrTruncated, wantOff: 28},
		{name: "truncated after record", in: []byte(`{"Records":[{"a":1},`),
			want: []string{`{"a":1}`}, wantErr: ErrTruncated, wantOff: 20},
		{name: "truncated inside escape", in: []byte(`{"Records":[{"a":1},{"b":"\`),
			want: []string{`{"a":1}`}, wantErr: ErrTruncated, wantOff: 27},
		{name: "truncated JSON line", in: []byte("{\"a\":1}\n{\"b\":"),
			want: []string{`{"a":1}`}, wantErr: ErrTruncated, wantOff: 13},
		{name: "truncated scalar", in: []byte(`{"x":tru`), wantErr: ErrTruncated, wantOff: 8},
		{name: "not JSON", in: []byte("hello, world"), wantErr: ErrSyntax, wantOff: 0},
		{name: "binary", in: []byte{0x00, 0x01, 0xfe}, wantErr: ErrSyntax, wantOff: 0},
		{name: "top-level array", in: []byte(` [{"a":1}]`), wantErr: ErrSyntax, wantOff: 1},
		{name: "top-level string", in: []byte(`"x"`), wantErr: ErrSyntax, wantOff: 0},
		{name: "garbage after records", in: []byte(`{"Records":[{"a":1}]} x`),
			want: []string{`{"a":1}`}, wantErr: ErrSyntax, wantOff: 22},
		{name: "trailing comma in Records", in: []byte(`{"Records":[{"a":1},]}`),
			want: []string{`{"a":1}`}, wantErr: ErrSyntax, wantOff: 20},
		{name: "missing comma in Records", in: []byte(`{"Records":[{"a":1} {"b":2}]}`),
			want: []string{`{"a":1}`}, wantErr: ErrSyntax, wantOff: 20},
		{name: "record not an object", in: []byte(`{"Records":[{"a":1},"x"]}`),
			want: []string{`{"a":1}`}, wantErr: ErrSyntax, wantOff: 20},
		{name: "mismatched brackets in record", in: []byte(`{"Records":[{"a":1},{"b":[1}]}]}`),
			want: []string{`{"a":1}`}, wantErr: ErrSyntax, wantOff: 27},
		{name: "invalid value before Records", in: []byte(`{"x":tru,"Records":[{"a":1}]}`),
			wantErr: ErrSyntax, wantOff: -1},
		{name: "invalid value after Records", in: []byte(`{"Records":[{"a":1}],"x":[1,]}`),
			want: []string{`{"a":1}`}, wantErr: ErrSyntax, wantOff: -1},
		{name: "missing colon", in: []byte(`{"Records" [{"a":1}]}`), wantErr: ErrSyntax, wantOff: 11},
		{name: "EventBridge detail not an object", in: []byte(`{"detail-type":"x","detail":[{"a":1}]}`),
			wantErr: ErrSyntax, wantOff: 28},
		{name: "EventBridge envelope invalid", in: []byte(`{"detail-type":x,"detail":{"a":1}}`),
			wantErr: ErrSyntax, wantOff: -1},
		{name: "record too large", in: []byte(`{"Records":[{"a":1},` + long + `]}`), opts: Options{MaxRecordBytes: 256},
			want: []string{`{"a":1}`}, wantErr: ErrRecordTooLarge, wantOff: 20},
		{name: "record at the size limit", in: []byte(`{"Records":[` + long + `]}`), opts: Options{MaxRecordBytes: int64(len(long))},
			want: []string{long}},
		{name: "record one byte over the limit", in: []byte(`{"Records":[` + long + `]}`), opts: Options{MaxRecordBytes: int64(len(long) - 1)},
			wantErr: ErrRecordTooLarge, wantOff: 12},
		{name: "JSON line too large", in: []byte(long + "\n"), opts: Options{MaxRecordBytes: 100},
			wantErr: ErrRecordTooLarge, wantOff: 0},
		{name: "decompressed limit", in: []byte(`{"Records":[{"a":1},{"b":2}]}`), opts: Options{MaxDecompressedBytes: 25},
			want: []string{`{"a":1}`}, wantErr: ErrTooLarge, wantOff: 25},
		{name: "decompressed limit exactly met", in: []byte(`{"Records":[{"a":1}]}`), opts: Options{MaxDecompressedBytes: 21},
			want: []string{`{"a":1}`}},
		{name: "gzip decompressed limit", in: gz(t, []byte(`{"Records":[{"a":1},{"b":2}]}`)), opts: Options{MaxDecompressedBytes: 25},
			want: []string{`{"a":1}`}, wantErr: ErrTooLarge, wantOff: 25},
		{name: "excessive depth", in: []byte(`{"Records":[` + strings.Repeat("[", maxDepth) + `]}`), wantErr: ErrSyntax, wantOff: -1},
	}
	for _, tt := range tests {
		for _, v := range readVariants {
			t.Run(tt.name+"/"+v.name, func(t *testing.T) {
				recs, err := decodeAll(t, v.wrap(bytes.NewReader(tt.in)), tt.opts, v.initSize)
				if got := strs(recs); !slices.Equal(got, tt.want) {
					t.Errorf("records:\n got %q\nwant %q", got, tt.want)
				}
				if tt.wantErr == nil {
					if err != io.EOF {
						t.Fatalf("err = %v, want io.EOF", err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var de *Error
				if !errors.As(err, &de) {
					t.Fatalf("err %T is not *Error", err)
				}
				if tt.wantOff >= 0 && de.Offset != tt.wantOff {
					t.Errorf("offset = %d, want %d (%v)", de.Offset, tt.wantOff, err)
				}
			})
		}
	}
}

// TestRecordOffset checks where each kind of record is said to start: the
// record's '{', the EventBridge detail's, or the lookup-events element's.
func TestRecordOffset(t *testing.T) {
	in := "{\"a\":1}\n{\"Records\":[{\"b\":2}]}{\"detail-type\":\"x\",\"detail\":{\"c\":3}}{\"Events\":[{\"CloudTrailEvent\":\"{}\"}]}"
	want := []int64{0, 20, 57, 76}
	for _, v := range readVariants {
		t.Run(v.name, func(t *testing.T) {
			d := NewDecoder(v.wrap(strings.NewReader(in)), Options{})
			d.initSize = v.initSize
			defer d.Close()
			var got []int64
			for {
				if _, err := d.Next(); err != nil {
					if err != io.EOF {
						t.Fatal(err)
					}
					break
				}
				got = append(got, d.RecordOffset())
			}
			if !slices.Equal(got, want) {
				t.Errorf("RecordOffset = %v, want %v", got, want)
			}
		})
	}
}
