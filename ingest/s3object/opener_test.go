package s3object

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/goleak"

	"github.com/rootwatch/rootwatch/ingest/envelope"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testAttempts = 3 // the SDK's standard retryer default

// newClient returns a real S3 client for an endpoint, with the standard
// retryer minus its back-off delay (attempts are counted, not timed).
func newClient(t *testing.T, endpoint string) *s3.Client {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDROOTWATCHTEST", "secret", ""),
		HTTPClient:   hc,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = testAttempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			o.RateLimiter = ratelimit.None
		}),
	})
}

// newFakeS3 starts gofakes3 in process with one bucket holding objects.
func newFakeS3(t *testing.T, bucket string, objects map[string][]byte) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := newClient(t, srv.URL)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	for key, data := range objects {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
		}
	}
	return client
}

func TestOpenReadsObject(t *testing.T) {
	payload := bytes.Repeat([]byte(`{"eventName":"ConsoleLogin","userIdentity":{"type":"Root"}}`+"\n"), 2000)
	keys := []string{
		"AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_a.json.gz",
		"trail exports/café (1)/日本語 キー+plus%percent.json.gz",
	}
	objects := map[string][]byte{}
	for _, k := range keys {
		objects[k] = payload
	}
	client := newFakeS3(t, "trail-bucket", objects)
	for _, limit := range []int64{0, int64(len(payload))} {
		for _, key := range keys {
			t.Run(fmt.Sprintf("limit=%d/%s", limit, key), func(t *testing.T) {
				o := NewOpener(client, limit)
				rc, err := o.Open(context.Background(), envelope.ObjectRef{Bucket: "trail-bucket", Key: key, Size: int64(len(payload))})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer rc.Close()
				// Small reads: the body is consumed as a stream.
				var got bytes.Buffer
				buf := make([]byte, 517)
				for {
					n, err := rc.Read(buf)
					got.Write(buf[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("Read after %d bytes: %v", got.Len(), err)
					}
				}
				if !bytes.Equal(got.Bytes(), payload) {
					t.Fatalf("read %d bytes, want the %d-byte payload", got.Len(), len(payload))
				}
				if err := rc.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
	}
}

func TestOpenErrors(t *testing.T) {
	client := newFakeS3(t, "trail-bucket", map[string][]byte{"AWSLogs/big.json.gz": bytes.Repeat([]byte("x"), 4096)})
	tests := []struct {
		name      string
		ref       envelope.ObjectRef
		limit     int64
		permanent bool
		is        error
	}{
		{"no such key", envelope.ObjectRef{Bucket: "trail-bucket", Key: "AWSLogs/missing key.json.gz"}, 0, true, nil},
		{"no such bucket", envelope.ObjectRef{Bucket: "no-such-bucket", Key: "AWSLogs/big.json.gz"}, 0, true, nil},
		{"content-length over limit", envelope.ObjectRef{Bucket: "trail-bucket", Key: "AWSLogs/big.json.gz"}, 4095, true, ErrTooLarge},
		{"announced size over limit", envelope.ObjectRef{Bucket: "trail-bucket", Key: "AWSLogs/big.json.gz", Size: 1 << 30}, 4096, true, ErrTooLarge},
		{"empty key", envelope.ObjectRef{Bucket: "trail-bucket"}, 0, true, ErrInvalidRef},
		{"empty bucket", envelope.ObjectRef{Key: "k"}, 0, true, ErrInvalidRef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := NewOpener(client, tt.limit).Open(context.Background(), tt.ref)
			if err == nil {
				rc.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if got := IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			want := "s3://" + tt.ref.Bucket + "/" + tt.ref.Key + ": "
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			var oe *Error
			if !errors.As(err, &oe) || oe.Bucket != tt.ref.Bucket || oe.Key != tt.ref.Key {
				t.Errorf("error %v is not an *Error naming the object", err)
			}
		})
	}
}

// faultServer answers every request with status and an S3 XML error body
// read from testdata/errors, and counts requests.
func faultServer(t *testing.T, status int, code string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "errors", code+".xml"))
	if err != nil {
		t.Fatalf("read error fixture: %v", err)
	}
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-amz-request-id", "4442587FB7D0A2F9")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestOpenServerFaults(t *testing.T) {
	tests := []struct {
		code      string
		status    int
		permanent bool
		attempts  int32 // requests the SDK made, retries included
	}{
		{"SlowDown", http.StatusServiceUnavailable, false, testAttempts},
		{"ServiceUnavailable", http.StatusServiceUnavailable, false, testAttempts},
		{"InternalError", http.StatusInternalServerError, false, testAttempts},
		{"RequestTimeout", http.StatusBadRequest, false, testAttempts},
		{"ExpiredToken", http.StatusBadRequest, false, 1}, // not retried by the SDK; refreshed credentials fix it
		{"AccessDenied", http.StatusForbidden, true, 1},
		{"InvalidObjectState", http.StatusForbidden, true, 1},
		{"NoSuchKey", http.StatusNotFound, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv, requests := faultServer(t, tt.status, tt.code)
			ref := envelope.ObjectRef{Bucket: "trail-bucket", Key: "AWSLogs/x.json.gz"}
			rc, err := NewOpener(newClient(t, srv.URL), 0).Open(context.Background(), ref)
			if err == nil {
				rc.Close()
				t.Fatal("Open succeeded, want an error")
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
				t.Errorf("error %v does not carry code %s", err, tt.code)
			}
			if got := IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			if got := requests.Load(); got != tt.attempts {
				t.Errorf("server saw %d requests, want %d", got, tt.attempts)
			}
			if !strings.HasPrefix(err.Error(), "s3://trail-bucket/AWSLogs/x.json.gz: get: ") {
				t.Errorf("error %q does not name the object", err)
			}
		})
	}
}

func TestOpenHangingServerDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := NewOpener(newClient(t, srv.URL), 0).Open(ctx, envelope.ObjectRef{Bucket: "b", Key: "AWSLogs/slow.json.gz"})
	if err == nil {
		t.Fatal("Open succeeded against a server that never answers")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want transient", err)
	}
}

// TestOpenChunkedOverLimit: a server that sends no Content-Length still
// cannot make the reader return more than the limit.
func TestOpenChunkedOverLimit(t *testing.T) {
	const limit = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		for i := 0; i < 10; i++ {
			_, _ = w.Write(bytes.Repeat([]byte("y"), 500))
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
	}))
	t.Cleanup(srv.Close)
	rc, err := NewOpener(newClient(t, srv.URL), limit).Open(context.Background(), envelope.ObjectRef{Bucket: "b", Key: "AWSLogs/lying.json.gz"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if !errors.Is(err, ErrTooLarge) || !IsPermanent(err) {
		t.Fatalf("ReadAll error = %v, want permanent ErrTooLarge", err)
	}
	if len(got) != limit {
		t.Errorf("read %d bytes before the error, want exactly %d", len(got), limit)
	}
	if !strings.HasPrefix(err.Error(), "s3://b/AWSLogs/lying.json.gz: read: ") {
		t.Errorf("error %q does not name the object", err)
	}
}

// TestOpenTruncatedBody: a connection cut mid-body is a transient read error
// naming the object.
func TestOpenTruncatedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(bytes.Repeat([]byte("z"), 100))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	rc, err := NewOpener(newClient(t, srv.URL), 0).Open(context.Background(), envelope.ObjectRef{Bucket: "b", Key: "AWSLogs/cut.json.gz"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	if err == nil {
		t.Fatal("ReadAll of a cut body succeeded")
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want transient", err)
	}
	if !strings.HasPrefix(err.Error(), "s3://b/AWSLogs/cut.json.gz: read: ") {
		t.Errorf("error %q does not name the object", err)
	}
}

func TestBodyLimitBoundaries(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		limit   int64
		bufSize int
		tooBig  bool
	}{
		{"under", 99, 100, 7, false},
		{"exact", 100, 100, 7, false},
		{"exact one read", 100, 100, 4096, false},
		{"one over", 101, 100, 7, true},
		{"one over one read", 101, 100, 4096, true},
		{"far over", 10000, 100, 1, true},
		{"no limit", 10000, 0, 64, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &body{rc: io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("a"), tt.size))), bucket: "b", key: "k", max: tt.limit}
			var total int
			buf := make([]byte, tt.bufSize)
			var err error
			for err == nil {
				var n int
				n, err = b.Read(buf)
				total += n
			}
			if tt.tooBig {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("error %v, want ErrTooLarge", err)
				}
				if int64(total) != tt.limit {
					t.Errorf("read %d bytes, want %d", total, tt.limit)
				}
				if _, again := b.Read(buf); !errors.Is(again, ErrTooLarge) {
					t.Errorf("second Read error %v, want the sticky ErrTooLarge", again)
				}
				return
			}
			if err != io.EOF || total != tt.size {
				t.Errorf("read %d bytes, err %v; want %d bytes and io.EOF", total, err, tt.size)
			}
		})
	}
}

func TestIsPermanent(t *testing.T) {
	wrap := func(err error) error { return &Error{Bucket: "b", Key: "k", Op: "get", Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"canceled", wrap(context.Canceled), false},
		{"deadline", wrap(fmt.Errorf("operation error S3: GetObject: %w", context.DeadlineExceeded)), false},
		{"too large", wrap(ErrTooLarge), true},
		{"invalid ref", wrap(ErrInvalidRef), true},
		{"access denied code", wrap(&smithy.GenericAPIError{Code: "AccessDenied"}), true},
		{"no such key code", wrap(&smithy.GenericAPIError{Code: "NoSuchKey"}), true},
		{"slow down code", wrap(&smithy.GenericAPIError{Code: "SlowDown"}), false},
		{"unknown code", wrap(&smithy.GenericAPIError{Code: "SomethingNew"}), false},
		{"network", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), false},
		{"unexpected eof", wrap(io.ErrUnexpectedEOF), false},
		{"plain", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestOpenConcurrent reads several objects at once through one Opener; run
// with -race.
func TestOpenConcurrent(t *testing.T) {
	objects := map[string][]byte{}
	for i := range 8 {
		objects[fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/f%d.json.gz", i)] = bytes.Repeat([]byte{byte('a' + i)}, 10000+i)
	}
	o := NewOpener(newFakeS3(t, "trail-bucket", objects), 1<<20)
	errs := make(chan error, len(objects))
	for key, want := range objects {
		go func() {
			rc, err := o.Open(context.Background(), envelope.ObjectRef{Bucket: "trail-bucket", Key: key})
			if err != nil {
				errs <- err
				return
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("%s: read %d bytes, want %d", key, len(got), len(want))
			}
			errs <- err
		}()
	}
	for range objects {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestMayBeMissing: the errors after which the other spelling of a key is
// worth a try. AccessDenied is one: without s3:ListBucket, S3 answers it
// for a missing key.
func TestMayBeMissing(t *testing.T) {
	client := newFakeS3(t, "trail-bucket", map[string][]byte{"AWSLogs/x.json.gz": []byte("{}")})
	ctx := context.Background()
	_, noKey := NewOpener(client, 0).Open(ctx, envelope.ObjectRef{Bucket: "trail-bucket", Key: "AWSLogs/x y.json.gz"})
	_, noBucket := NewOpener(client, 0).Open(ctx, envelope.ObjectRef{Bucket: "other-bucket", Key: "AWSLogs/x.json.gz"})
	_, tooLarge := NewOpener(client, 1).Open(ctx, envelope.ObjectRef{Bucket: "trail-bucket", Key: "AWSLogs/x.json.gz"})
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"NoSuchKey from S3", noKey, true},
		{"NoSuchBucket from S3", noBucket, false},
		{"too large", tooLarge, false},
		{"nil", nil, false},
		{"cancelled", context.Canceled, false},
	}
	for _, f := range []struct {
		code   string
		status int
		want   bool
	}{
		{"NoSuchKey", http.StatusNotFound, true},
		{"AccessDenied", http.StatusForbidden, true},
		{"InvalidObjectState", http.StatusForbidden, false},
		{"SlowDown", http.StatusServiceUnavailable, false},
	} {
		srv, _ := faultServer(t, f.status, f.code)
		_, err := NewOpener(newClient(t, srv.URL), 0).Open(ctx, envelope.ObjectRef{Bucket: "trail-bucket", Key: "AWSLogs/x.json.gz"})
		tests = append(tests, struct {
			name string
			err  error
			want bool
		}{f.code + " from a server", err, f.want})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MayBeMissing(tt.err); got != tt.want {
				t.Errorf("MayBeMissing(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
