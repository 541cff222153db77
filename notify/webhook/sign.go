package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	// HeaderSignature carries the timestamp and the signatures:
	// "t=<unix seconds>,v1=<hex>" (one v1 per secret while a secret is
	// rotated).
	HeaderSignature = "Rootwatch-Signature"
	// HeaderDelivery is the delivery id (Payload.ID): the same for every
	// redelivery of an alert, so that a receiver can drop repeats.
	HeaderDelivery = "Rootwatch-Delivery"
	// HeaderVersion is the payload's schema version (Payload.Version).
	HeaderVersion = "Rootwatch-Webhook-Version"
)

// DefaultTolerance is how old (or how far in the future) a signature's
// timestamp may be for Verify to accept it: 5 minutes, as Stripe does.
const DefaultTolerance = 5 * time.Minute

// maxHeaderBytes bounds the signature header Verify parses.
const maxHeaderBytes = 4096

// Errors of Verify.
var (
	// ErrHeader is a signature header that cannot be parsed.
	ErrHeader = errors.New("webhook: malformed signature header")
	// ErrTimestamp is a timestamp outside the tolerance (a replay, or a
	// clock far off).
	ErrTimestamp = errors.New("webhook: timestamp outside the tolerance")
	// ErrSignature is a header with no v1 signature matching the secret and
	// the body (wrong secret, tampered body or timestamp).
	ErrSignature = errors.New("webhook: no matching signature")
)

// Sign returns the hex HMAC-SHA256 of timestamp + "." + body keyed by
// secret: the v1 signature.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeader returns the Rootwatch-Signature value for body sent at
// timestamp: "t=<timestamp>,v1=<sig>", with one v1 per secret, in order.
func SignatureHeader(timestamp int64, body []byte, secrets ...string) string {
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(timestamp, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(Sign(s, timestamp, body))
	}
	return b.String()
}

// ParseHeader reads a Rootwatch-Signature value: its timestamp and its v1
// signatures (decoded). Unknown schemes ("v0=", future "v2=") are skipped,
// so that a receiver keeps working when rootwatch adds one; a header
// without exactly one t or without any v1 is an error.
func ParseHeader(header string) (timestamp int64, sigs [][]byte, err error) {
	if len(header) > maxHeaderBytes {
		return 0, nil, fmt.Errorf("%w: longer than %d bytes", ErrHeader, maxHeaderBytes)
	}
	haveT := false
	for item := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: item without '='", ErrHeader)
		}
		switch k {
		case "t":
			if haveT {
				return 0, nil, fmt.Errorf("%w: more than one timestamp", ErrHeader)
			}
			timestamp, err = strconv.ParseInt(v, 10, 64)
			if err != nil || timestamp <= 0 {
				return 0, nil, fmt.Errorf("%w: bad timestamp", ErrHeader)
			}
			haveT = true
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: bad v1 signature", ErrHeader)
			}
			sigs = append(sigs, sig)
		}
	}
	if !haveT {
		return 0, nil, fmt.Errorf("%w: no timestamp", ErrHeader)
	}
	if len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: no v1 signature", ErrHeader)
	}
	return timestamp, sigs, nil
}

// Verify checks a delivery for a receiver written in Go: header is the
// Rootwatch-Signature value, body the raw request body (before any JSON
// decoding), now the receiver's clock and tolerance how far the timestamp
// may be from it (DefaultTolerance when zero or negative). It returns nil
// when one v1 signature is the HMAC-SHA256 of timestamp + "." + body keyed
// by secret, compared in constant time, and the timestamp is within the
// tolerance; else an error wrapping ErrHeader, ErrTimestamp or
// ErrSignature. A receiver that rotates its secret calls Verify with each
// secret it accepts. It should also drop a Rootwatch-Delivery id it has
// already processed.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("webhook: empty secret")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, sigs, err := ParseHeader(header)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s away from now", ErrTimestamp, d.Round(time.Second))
	}
	want, _ := hex.DecodeString(Sign(secret, ts, body))
	ok := false
	for _, s := range sigs {
		// Every signature is compared, in constant time.
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}
