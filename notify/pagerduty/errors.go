package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/rootwatch/rootwatch/notify"
)

// maxErrorBody is how much of an error response's body is kept to explain
// the failure.
const maxErrorBody = 4096

// recorder is an http.RoundTripper that remembers the outcome of one call:
// the response status, Retry-After and the start of an error body, or the
// transport error. go-pagerduty's client path drops the response of a
// failed call and wraps transport errors with %v, so the sink classifies
// from this recording instead. A recorder serves one Send.
type recorder struct {
	base http.RoundTripper

	mu         sync.Mutex
	status     int
	retryAfter string
	body       []byte
	err        error
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
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
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		rest := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), rest), rest}
		r.body = b
	}
	return resp, nil
}

// accepted reports whether the Events API answered with a 2xx status.
func (r *recorder) accepted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status >= 200 && r.status <= 299
}

// classify turns the outcome of one Events API call into a notify error:
// Retryable for 429 (with Retry-After), 408, 5xx, network failures and
// timeouts; Permanent for 400 (invalid event, bad routing key) and other
// 4xx. The error does not quote the client library's error, which embeds
// the request URL and arbitrary response text.
//
// ctx is the caller's context and callCtx the one with the per-call
// timeout.
func classify(ctx, callCtx context.Context, err error, rec *recorder) error {
	if err == nil {
		return nil
	}
	rec.mu.Lock()
	status, ra, body, terr := rec.status, rec.retryAfter, rec.body, rec.err
	rec.mu.Unlock()
	after := notify.ParseRetryAfter(ra)

	switch {
	case status == http.StatusTooManyRequests:
		return notify.Retryable(fmt.Errorf("pagerduty: rate limited (HTTP 429)%s", reason(body)), after)
	case status == http.StatusRequestTimeout || status >= 500:
		return notify.Retryable(fmt.Errorf("pagerduty: server error: HTTP %d%s", status, reason(body)), after)
	case status != 0:
		return notify.Permanent(fmt.Errorf("pagerduty: event rejected: HTTP %d%s", status, reason(body)))
	}

	// No response.
	cause := terr
	switch {
	case ctx.Err() != nil:
		cause = ctx.Err()
	case callCtx.Err() != nil:
		return notify.Retryable(fmt.Errorf("pagerduty: request failed: timed out: %w", callCtx.Err()), 0)
	}
	if cause == nil {
		return notify.Retryable(errors.New("pagerduty: request not sent"), 0)
	}
	var ne net.Error
	if errors.Is(cause, context.DeadlineExceeded) || (errors.As(cause, &ne) && ne.Timeout()) {
		return notify.Retryable(fmt.Errorf("pagerduty: request failed: timed out: %w", cause), 0)
	}
	return notify.Retryable(fmt.Errorf("pagerduty: request failed: %w", cause), 0)
}

// reason explains an Events API error body: its status, message and first
// error ("invalid event: Event object is invalid: 'payload.summary' is
// missing"), or a short excerpt of a body that is not the API's JSON.
func reason(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var r struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	var parts []string
	if json.Unmarshal(body, &r) == nil {
		for _, p := range []string{r.Status, r.Message} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		if len(r.Errors) > 0 {
			e := r.Errors[0]
			if len(r.Errors) > 1 {
				e += fmt.Sprintf(" (and %d more)", len(r.Errors)-1)
			}
			parts = append(parts, e)
		}
	}
	if len(parts) == 0 {
		parts = []string{string(body)}
	}
	return " (" + clean(strings.Join(parts, ": "), 300) + ")"
}

// scrubErr returns err with secret replaced in its text (dropping its
// chain, which holds the secret) and whether it had to.
func scrubErr(err error, secret string) (error, bool) {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err, false
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "<redacted>")), true
}

// scrub is scrubErr for a classified error, keeping its class.
func scrub(err error, secret string) error {
	var p *notify.PermanentError
	var r *notify.RetryableError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &p):
		if c, ok := scrubErr(p.Err, secret); ok {
			return notify.Permanent(c)
		}
	case errors.As(err, &r):
		if c, ok := scrubErr(r.Err, secret); ok {
			return notify.Retryable(c, r.After)
		}
	default:
		c, _ := scrubErr(err, secret)
		return c
	}
	return err
}
