package s3object

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rootwatch/rootwatch/ingest/envelope"
)

// ErrTooLarge is wrapped by Open and by reads of the object it returns when
// an object is larger than the Opener's limit. It is permanent.
var ErrTooLarge = errors.New("object larger than the limit")

// ErrInvalidRef is wrapped by Open for an ObjectRef without a bucket or key.
// It is permanent.
var ErrInvalidRef = errors.New("object reference without bucket or key")

// GetObjectAPI is the part of the S3 client Opener uses; *s3.Client
// implements it.
type GetObjectAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Error is an error about one S3 object. Op is what was being done ("get",
// "read", "close").
type Error struct {
	Bucket, Key string
	Op          string
	Err         error
}

// Error returns "s3://bucket/key: op: err".
func (e *Error) Error() string {
	return "s3://" + e.Bucket + "/" + e.Key + ": " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Opener opens S3 objects as streams no longer than a configured limit.
// An Opener is safe for concurrent use if its GetObjectAPI is.
type Opener struct {
	api GetObjectAPI
	max int64
}

// NewOpener returns an Opener reading through api. maxObjectBytes bounds the
// stored (possibly compressed) size of an object; zero or less disables the
// bound.
func NewOpener(api GetObjectAPI, maxObjectBytes int64) *Opener {
	return &Opener{api: api, max: maxObjectBytes}
}

// Open starts a GetObject of ref and returns its body as a stream: nothing
// is buffered. An object whose announced size (ref.Size) or Content-Length
// exceeds the limit is refused with an error wrapping ErrTooLarge, and the
// returned reader fails with such an error as soon as more than the limit is
// read, whatever the server declared. Errors are *Error values naming the
// object; IsPermanent classifies them. The caller must Close the reader.
func (o *Opener) Open(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error) {
	if ref.Bucket == "" || ref.Key == "" {
		return nil, &Error{Bucket: ref.Bucket, Key: ref.Key, Op: "get", Err: ErrInvalidRef}
	}
	if o.max > 0 && ref.Size > o.max {
		return nil, &Error{Bucket: ref.Bucket, Key: ref.Key, Op: "get",
			Err: fmt.Errorf("%w: announced size %d bytes, limit %d", ErrTooLarge, ref.Size, o.max)}
	}
	out, err := o.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key)})
	if err != nil {
		return nil, &Error{Bucket: ref.Bucket, Key: ref.Key, Op: "get", Err: err}
	}
	if out.Body == nil {
		return io.NopCloser(eofReader{}), nil
	}
	if o.max > 0 && out.ContentLength != nil && *out.ContentLength > o.max {
		_ = out.Body.Close() // unread body: closing drops the connection, which is the point
		return nil, &Error{Bucket: ref.Bucket, Key: ref.Key, Op: "get",
			Err: fmt.Errorf("%w: Content-Length %d bytes, limit %d", ErrTooLarge, *out.ContentLength, o.max)}
	}
	return &body{rc: out.Body, bucket: ref.Bucket, key: ref.Key, max: o.max}, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// body is a GetObject body that enforces the size limit on the bytes read and
// names the object in its errors.
type body struct {
	rc          io.ReadCloser
	bucket, key string
	max         int64 // <= 0: no limit
	n           int64 // bytes returned so far
	err         error // sticky error once the limit was passed
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.max > 0 {
		// Read at most one byte past the limit, to tell "exactly max" from "more".
		if rem := b.max - b.n + 1; int64(len(p)) > rem {
			p = p[:rem]
		}
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.max > 0 && b.n > b.max {
		n -= int(b.n - b.max)
		b.n = b.max
		b.err = &Error{Bucket: b.bucket, Key: b.key, Op: "read",
			Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, b.max)}
		return n, b.err
	}
	if err != nil && err != io.EOF {
		err = &Error{Bucket: b.bucket, Key: b.key, Op: "read", Err: err}
	}
	return n, err
}

func (b *body) Close() error {
	if err := b.rc.Close(); err != nil {
		return &Error{Bucket: b.bucket, Key: b.key, Op: "close", Err: err}
	}
	return nil
}

// permanentCodes are S3 error codes that retrying the same request cannot
// fix. AccessDenied is among them: the SDK does not retry it, and a
// permission problem needs an operator, not a redelivery.
var permanentCodes = map[string]bool{
	"NoSuchKey":          true,
	"NoSuchBucket":       true,
	"NoSuchVersion":      true,
	"AccessDenied":       true,
	"AllAccessDisabled":  true,
	"InvalidObjectState": true, // archived (Glacier / Deep Archive) and not restored
	"InvalidBucketName":  true,
	"NotFound":           true, // 404 without an error body
	"Forbidden":          true, // 403 without an error body
}

// MayBeMissing reports whether err, from Open, may mean that no object has
// the key: NoSuchKey or a bare 404, and also AccessDenied or a bare 403,
// which S3 answers for a missing key when the caller may not list the
// bucket (s3:ListBucket), as rootwatch's role may not. Callers holding
// another spelling of the key (envelope.ObjectRef.AltKey) try it then.
// NoSuchBucket is not such an error: the other key would be in the same
// bucket.
func MayBeMissing(err error) bool {
	if err == nil {
		return false
	}
	var noKey *types.NoSuchKey
	if errors.As(err, &noKey) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() != "" {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "AccessDenied", "Forbidden":
			return true
		}
		return false
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusForbidden, http.StatusNotFound:
			return true
		}
	}
	return false
}

// IsPermanent reports whether err, from Open or from reading what it
// returned, cannot be fixed by trying again later: a missing object or
// bucket, access denied, an archived object, an object over the limit, an
// invalid reference. Everything else is transient: throttling (SlowDown,
// 503), other 5xx, timeouts, network errors, context cancellation and
// deadlines, and errors of unknown kind, so that the message is redelivered
// and reaches the dead-letter queue only through the queue's redrive policy.
// IsPermanent(nil) is false.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalidRef) {
		return true
	}
	var (
		noKey    *types.NoSuchKey
		noBucket *types.NoSuchBucket
		archived *types.InvalidObjectState
	)
	if errors.As(err, &noKey) || errors.As(err, &noBucket) || errors.As(err, &archived) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		if permanentCodes[code] {
			return true
		}
		if code != "" {
			return false // a code not known to be permanent: SlowDown, InternalError, ...
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusForbidden, http.StatusNotFound:
			return true
		}
	}
	return false
}
