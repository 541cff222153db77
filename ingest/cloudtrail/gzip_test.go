package cloudtrail

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestDamagedGzip checks that a damaged gzip object yields a prefix of its
// records, then an *Error wrapping ErrGzip (and ErrTruncated when cut).
func TestDamagedGzip(t *testing.T) {
	plain := readFixture(t, "log-root.json")
	all, err := oracle(plain)
	if err != nil {
		t.Fatal(err)
	}
	full := readFixture(t, "log-root.json.gz")
	flip := func(i int) []byte {
		b := bytes.Clone(full)
		b[i] ^= 0xff
		return b
	}
	tests := []struct {
		name      string
		in        []byte
		wantRecs  int // -1: any prefix
		truncated bool
	}{
		{name: "magic only", in: full[:2], wantRecs: 0, truncated: true},
		{name: "cut in header", in: full[:7], wantRecs: 0, truncated: true},
		{name: "cut in data", in: full[:len(full)/2], wantRecs: -1, truncated: true},
		{name: "cut in trailer", in: full[:len(full)-3], wantRecs: 3, truncated: true},
		{name: "trailer missing", in: full[:len(full)-8], wantRecs: 3, truncated: true},
		{name: "bad checksum", in: flip(len(full) - 6), wantRecs: 3},
		{name: "bad length", in: flip(len(full) - 2), wantRecs: 3},
		{name: "bad compression method", in: flip(2), wantRecs: 0},
		{name: "corrupt data", in: flip(40), wantRecs: -1},
		{name: "garbage after member", in: append(bytes.Clone(full), "this is not a gzip member, just trailing garbage"...), wantRecs: 3},
	}
	for _, tt := range tests {
		for _, v := range readVariants {
			t.Run(tt.name+"/"+v.name, func(t *testing.T) {
				recs, err := decodeAll(t, v.wrap(bytes.NewReader(tt.in)), Options{Source: "s3://b/k.json.gz"}, v.initSize)
				if tt.wantRecs >= 0 && len(recs) != tt.wantRecs {
					t.Errorf("got %d records, want %d", len(recs), tt.wantRecs)
				}
				if len(recs) > len(all) {
					t.Fatalf("got %d records, more than the %d in the object", len(recs), len(all))
				}
				for i := range recs {
					if !bytes.Equal(recs[i], all[i]) {
						t.Errorf("record %d = %q, want %q", i, recs[i], all[i])
					}
				}
				if !errors.Is(err, ErrGzip) {
					t.Fatalf("err = %v, want ErrGzip", err)
				}
				if got := errors.Is(err, ErrTruncated); got != tt.truncated {
					t.Errorf("errors.Is(err, ErrTruncated) = %v, want %v (%v)", got, tt.truncated, err)
				}
				if !strings.HasPrefix(err.Error(), "s3://b/k.json.gz: at byte ") {
					t.Errorf("error %q does not name the source and offset", err)
				}
			})
		}
	}
}

// TestReadError checks that the reader's own error is reported as such (not
// as gzip corruption), after the records before it.
func TestReadError(t *testing.T) {
	boom := errors.New("connection reset")
	plain := []byte(`{"Records":[{"a":1},{"b":2}`)
	tests := []struct {
		name string
		in   []byte
		want int
	}{
		{name: "plain", in: plain, want: 2},
		{name: "gzip", in: gz(t, plain), want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := io.MultiReader(bytes.NewReader(tt.in), iotest.ErrReader(boom))
			recs, err := decodeAll(t, r, Options{Source: "x"}, blockSize)
			if len(recs) != tt.want {
				t.Errorf("got %d records, want %d", len(recs), tt.want)
			}
			if !errors.Is(err, boom) || errors.Is(err, ErrGzip) || errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want the reader's error only", err)
			}
			var de *Error
			if !errors.As(err, &de) || de.Offset != int64(len(plain)) {
				t.Errorf("err = %#v, want *Error at offset %d", err, len(plain))
			}
		})
	}
}

// spaceReader yields n spaces.
type spaceReader struct{ n int64 }

func (s *spaceReader) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.n)]
	for i := range p {
		p[i] = ' '
	}
	s.n -= int64(len(p))
	return len(p), nil
}

// TestGzipBomb decodes a small gzip stream holding 100 MiB of whitespace
// between two records (101 concatenated members, about 100 KB) with a 4 MiB
// decompression limit.
func TestGzipBomb(t *testing.T) {
	var spaces bytes.Buffer
	if _, err := io.Copy(&spaces, &spaceReader{n: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	member := gz(t, spaces.Bytes())
	bomb := gz(t, []byte(`{"Records":[{"a":1},`))
	for range 100 {
		bomb = append(bomb, member...)
	}
	bomb = append(bomb, gz(t, []byte(`{"b":2}]}`))...)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed; want a small one", len(bomb))
	}
	// Without limits low enough the whole stream decodes (slow under -race);
	// the compression-ratio guard is off here (deflate cannot pass 1032:1),
	// TestCompressionRatioGuard tests it.
	if !raceEnabled {
		if recs, err := decodeAll(t, bytes.NewReader(bomb), Options{MaxCompressionRatio: 2000}, blockSize); len(recs) != 2 || err != io.EOF {
			t.Fatalf("unlimited: %d records, %v; want 2 and io.EOF", len(recs), err)
		}
	}
	const limit = 4 << 20
	recs, err := decodeAll(t, bytes.NewReader(bomb), Options{MaxDecompressedBytes: limit, MaxCompressionRatio: 2000}, blockSize)
	if len(recs) != 1 || string(recs[0]) != `{"a":1}` {
		t.Errorf("records = %q, want the one before the limit", recs)
	}
	var de *Error
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &de) || de.Offset != limit {
		t.Fatalf("err = %v, want ErrTooLarge at byte %d", err, limit)
	}
}

// TestCloseStopsReadAhead checks that Close mid-stream stops the
// decompressing goroutine, is idempotent, and makes Next fail.
func TestCloseStopsReadAhead(t *testing.T) {
	var body bytes.Buffer
	body.WriteString(`{"Records":[`)
	for i := range 20000 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"eventName":"GetObject","n":"` + strings.Repeat("x", 100) + `"}`)
	}
	body.WriteString(`]}`)
	d := NewDecoder(bytes.NewReader(gz(t, body.Bytes())), Options{})
	for range 10 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if off := d.Offset(); off <= 12 {
		t.Errorf("Offset = %d after 10 records", off)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if rec, err := d.Next(); rec != nil || err == nil || err == io.EOF {
		t.Fatalf("Next after Close = %q, %v; want an error", rec, err)
	}
}

// TestErrorStopsReadAhead checks that a syntax error early in a large
// gzip stream stops decompression (TestMain checks for leaked goroutines).
func TestErrorStopsReadAhead(t *testing.T) {
	var body bytes.Buffer
	body.WriteString(`{"Records":[{"a":1},x`)
	if _, err := io.Copy(&body, &spaceReader{n: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(bytes.NewReader(gz(t, body.Bytes())), Options{})
	defer d.Close()
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next()
	var de *Error
	if !errors.Is(err, ErrSyntax) || !errors.As(err, &de) || de.Offset != 20 {
		t.Fatalf("err = %v, want ErrSyntax at byte 20", err)
	}
}

// TestOffset checks Offset after each record and at the end.
func TestOffset(t *testing.T) {
	in := " {\"Records\":[{\"a\":1}, {\"b\":2}]}\n"
	d := NewDecoder(strings.NewReader(in), Options{})
	defer d.Close()
	for _, want := range []int64{20, 29} {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
		if got := d.Offset(); got != want {
			t.Errorf("Offset = %d, want %d", got, want)
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	if got := d.Offset(); got != int64(len(in)) {
		t.Errorf("final Offset = %d, want %d", got, len(in))
	}
}
