package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Plumbing shared by the HTTP sinks: the response recorder, the error
// classifier and the scrubbing of secrets from errors.

// Recorder is an http.RoundTripper that remembers the outcome of the last
// call made through it: the response status, Retry-After and the start of
// a non-2xx body, or the transport error. Client libraries turn responses
// into errors that lose some of this (a 429 without its Retry-After, a
// webhook's reason text, the status of a failed call), so sinks classify
// from the recording. A Recorder serves one Send.
type Recorder struct {
	base    http.RoundTripper
	maxBody int

	mu         sync.Mutex
	status     int
	retryAfter string
	body       []byte
	err        error
}

// NewRecorder returns a Recorder over base that keeps at most maxBody
// bytes of an error body.
func NewRecorder(base http.RoundTripper, maxBody int) *Recorder {
	return &Recorder{base: base, maxBody: maxBody}
}

// RoundTrip implements http.RoundTripper. The body it reads ahead is
// given back to the caller unchanged.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.err = err
		return resp, err
	}
	r.status = resp.StatusCode
	r.retryAfter = resp.Header.Get("Retry-After")
	r.body = nil
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, int64(r.maxBody)))
		rest := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), rest), rest}
		r.body = b
	}
	return resp, nil
}

// Outcome is what a Recorder saw of the last call.
type Outcome struct {
	// Status is the HTTP status; 0 when no response came.
	Status int
	// RetryAfter is the parsed Retry-After header, or 0.
	RetryAfter time.Duration
	// Body is the start of a non-2xx response's body.
	Body []byte
	// Err is the transport error when no response came.
	Err error
}

// Outcome returns what the recorder saw of the last call.
func (r *Recorder) Outcome() Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Outcome{Status: r.status, RetryAfter: ParseRetryAfter(r.retryAfter), Body: r.body, Err: r.err}
}

// Accepted reports whether the last call was answered with a 2xx status.
func (o Outcome) Accepted() bool { return o.Status >= 200 && o.Status <= 299 }

// ClassifyStatus classifies an answered call by its HTTP status: nil for
// 2xx (or no answer, status 0); Retryable for 429, 408 and 5xx (with
// after, the Retry-After asked for); Permanent for every other status.
// prefix starts the message ("slack webhook", "pagerduty"); reason, when
// not empty, explains the failure (see Reason).
func ClassifyStatus(prefix string, status int, after time.Duration, reason string) error {
	switch {
	case status == 0 || (status >= 200 && status <= 299):
		return nil
	case status == http.StatusTooManyRequests:
		return Retryable(fmt.Errorf("%s: rate limited (HTTP 429)%s", prefix, reason), after)
	case status == http.StatusRequestTimeout || status >= 500:
		return Retryable(fmt.Errorf("%s: server error: HTTP %d%s", prefix, status, reason), after)
	default:
		return Permanent(fmt.Errorf("%s: rejected: HTTP %d%s", prefix, status, reason))
	}
}

// ClassifyNoResponse classifies a call that got no answer, always as
// Retryable: cause is the transport error (nil when the request was never
// sent), ctx the caller's context (its end is the cause when it ended) and
// callCtx the one with the per-call timeout. A *url.Error is reduced to
// its cause: its URL may be a secret.
func ClassifyNoResponse(ctx, callCtx context.Context, prefix string, cause error) error {
	timedOut := false
	var ue *url.Error
	if errors.As(cause, &ue) {
		timedOut = ue.Timeout()
		cause = ue.Err
	}
	switch {
	case ctx.Err() != nil:
		cause = ctx.Err()
	case callCtx.Err() != nil:
		return Retryable(fmt.Errorf("%s: request failed: timed out: %w", prefix, callCtx.Err()), 0)
	}
	if cause == nil {
		return Retryable(fmt.Errorf("%s: request not sent", prefix), 0)
	}
	var ne net.Error
	if timedOut || errors.Is(cause, context.DeadlineExceeded) || (errors.As(cause, &ne) && ne.Timeout()) {
		return Retryable(fmt.Errorf("%s: request failed: timed out: %w", prefix, cause), 0)
	}
	return Retryable(fmt.Errorf("%s: request failed: %w", prefix, cause), 0)
}

// Reason formats an error body excerpt for an error message: " (text)",
// one line, printable, at most max runes, or "" when empty.
func Reason(body string, max int) string {
	body = strings.TrimSpace(body)
	if body == "" {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(body, "\uFFFD") {
		if n >= max {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return " (" + b.String() + ")"
}

// Scrub returns err unchanged unless its text contains one of secrets;
// then an error of the same class (Permanent, Retryable with its After, or
// unclassified) whose text has them replaced by "<redacted>" and whose
// chain, which holds the secret, is dropped. It is the last line of
// defence of a sink that already avoids quoting URLs and keys.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	leaked := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	inner := err
	var p *PermanentError
	var r *RetryableError
	switch {
	case errors.As(err, &p):
		inner = p.Err
	case errors.As(err, &r):
		inner = r.Err
	}
	clean := inner.Error()
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "<redacted>")
		}
	}
	switch {
	case p != nil:
		return Permanent(errors.New(clean))
	case r != nil:
		return Retryable(errors.New(clean), r.After)
	}
	return errors.New(clean)
}

// MaskSecret hides a secret entirely; "" stays "" so that an unset secret
// shows as unset. For printing configurations.
func MaskSecret(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// MaskURL keeps a URL's scheme and host and hides the rest (a webhook
// URL's path is its secret); "" stays "".
func MaskURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "REDACTED"
	}
	return u.Scheme + "://" + u.Host + "/REDACTED"
}
