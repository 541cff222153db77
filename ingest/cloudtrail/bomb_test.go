package cloudtrail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// errReadTooFar is returned by cappedReader past its cap: a decoder that
// reads that far did not stop a bomb early.
var errReadTooFar = errors.New("test: read past the cap of compressed input")

// cappedReader yields head, then member repeated n times, then tail,
// lazily (a 10 GiB bomb costs no memory), and counts the bytes read. Past
// cap bytes it fails with errReadTooFar.
type cappedReader struct {
	head, member, tail []byte
	n                  int
	cap, read          int64
	cur                []byte
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.read >= c.cap {
		return 0, errReadTooFar
	}
	for len(c.cur) == 0 {
		switch {
		case c.head != nil:
			c.cur, c.head = c.head, nil
		case c.n > 0:
			c.cur = c.member
			c.n--
		case c.tail != nil:
			c.cur, c.tail = c.tail, nil
		default:
			return 0, io.EOF
		}
	}
	n := copy(p[:min(int64(len(p)), c.cap-c.read)], c.cur)
	c.cur = c.cur[n:]
	c.read += int64(n)
	return n, nil
}

// realisticRecords returns a {"Records":[...]} log of about size bytes
// whose records differ only by the fields every CloudTrail record has
// unique (eventID, requestID, eventTime): the most compressible content a
// real trail writes (about 15:1 with gzip).
func realisticRecords(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	uuid := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
	}
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:i-0abc","arn":"arn:aws:sts::111122223333:assumed-role/app/i-0abc","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/app"},"attributes":{"creationDate":"2026-11-20T09:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2026-11-20T10:%02d:%02dZ","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","userAgent":"aws-sdk-go-v2/1.30.0","requestParameters":{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"},"responseElements":null,"requestID":"%s","eventID":"%s","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`,
			i/60%60, i%60, uuid(), uuid())
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// TestCompressionRatioGuard checks that a gzip input inflating far beyond
// what CloudTrail JSON does is refused with ErrCompressionRatio after a
// bounded amount of input, and that real-looking logs pass.
func TestCompressionRatioGuard(t *testing.T) {
	var spaces bytes.Buffer
	if _, err := io.Copy(&spaces, &spaceReader{n: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	spaceMember := gz(t, spaces.Bytes()) // 64 MiB of whitespace, about 64 KB
	dup := []byte(`{"eventVersion":"1.09","eventSource":"kms.amazonaws.com","eventName":"Decrypt","eventID":"same"},`)
	dupMember := gz(t, bytes.Repeat(dup, (8<<20)/len(dup)))
	realistic := realisticRecords(40 << 20)
	realisticGz := gz(t, realistic)
	t.Logf("realistic log: %d bytes, ratio %.1f:1", len(realistic), float64(len(realistic))/float64(len(realisticGz)))
	tests := []struct {
		name     string
		in       *cappedReader
		opts     Options
		wantRecs int   // records before the error (or all of them)
		wantErr  error // nil: io.EOF
	}{
		{name: "10 GiB of whitespace between records", opts: Options{},
			in:       &cappedReader{head: gz(t, []byte(`{"Records":[{"a":1},`)), member: spaceMember, n: 160, tail: gz(t, []byte(`{"b":2}]}`)), cap: 1 << 20},
			wantRecs: 1, wantErr: ErrCompressionRatio},
		{name: "1 GiB of duplicated records", opts: Options{},
			in:       &cappedReader{head: gz(t, []byte(`{"Records":[`)), member: dupMember, n: 128, tail: gz(t, []byte(`{"b":2}]}`)), cap: 1 << 20},
			wantRecs: -1, wantErr: ErrCompressionRatio},
		{name: "whitespace under the minimum size passes", opts: Options{},
			in:       &cappedReader{head: gz(t, []byte(`{"Records":[{"a":1},`)), member: gz(t, spaces.Bytes()[:8<<20]), n: 1, tail: gz(t, []byte(`{"b":2}]}`)), cap: 1 << 20},
			wantRecs: 2},
		{name: "realistic log passes the default bound", opts: Options{},
			in:       &cappedReader{head: realisticGz, cap: 1 << 30},
			wantRecs: bytes.Count(realistic, []byte(`"eventVersion"`))},
		{name: "realistic log refused by a bound below its ratio", opts: Options{MaxCompressionRatio: 5},
			in:       &cappedReader{head: realisticGz, cap: 1 << 30},
			wantRecs: -1, wantErr: ErrCompressionRatio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			recs, err := decodeAll(t, tt.in, tt.opts, blockSize)
			elapsed := time.Since(start)
			if tt.wantErr == nil {
				if err != io.EOF || len(recs) != tt.wantRecs {
					t.Fatalf("%d records, err %v; want %d and io.EOF", len(recs), err, tt.wantRecs)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v after %d records, %d compressed bytes read, %s; want %v", err, len(recs), tt.in.read, elapsed, tt.wantErr)
			}
			var de *Error
			if !errors.As(err, &de) || de.Offset > RatioCheckMinBytes+(readAhead+1)*blockSize {
				t.Errorf("err = %v, want an *Error at an offset soon after %d bytes", err, RatioCheckMinBytes)
			}
			if tt.wantRecs >= 0 && len(recs) != tt.wantRecs {
				t.Errorf("%d records before the error, want %d", len(recs), tt.wantRecs)
			}
			t.Logf("refused after %d compressed bytes, %s: %v", tt.in.read, elapsed, err)
		})
	}
}

// TestDefaults pins the documented defaults of the bomb guards.
func TestDefaults(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		{"DefaultMaxDecompressedBytes", DefaultMaxDecompressedBytes, 4 << 30},
		{"DefaultMaxCompressionRatio", DefaultMaxCompressionRatio, 100},
		{"RatioCheckMinBytes", RatioCheckMinBytes, 16 << 20},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
