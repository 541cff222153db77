package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/rootwatch/rootwatch/notify"
)

// maxErrorBody is how much of an error response's body is kept to explain
// the failure (Slack webhooks answer with a short reason such as
// "invalid_token" or "no_service").
const maxErrorBody = 512

// recorder is an http.RoundTripper that remembers what the last response of
// one call said: status, Retry-After and the start of an error body. The
// client libraries turn responses into errors that lose some of this (a 429
// without a usable Retry-After, a webhook's reason text), so the sink
// classifies from the recording. A recorder serves one Send.
type recorder struct {
	base http.RoundTripper

	mu         sync.Mutex
	status     int
	retryAfter string
	body       string
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = resp.StatusCode
	r.retryAfter = resp.Header.Get("Retry-After")
	r.body = ""
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		rest := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), rest), rest}
		r.body = string(b)
	}
	return resp, nil
}

// result returns the recorded status, Retry-After and error body.
func (r *recorder) result() (status int, retryAfter time.Duration, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, notify.ParseRetryAfter(r.retryAfter), r.body
}

// retryableAPIErrors are ok:false codes that may clear up by themselves.
// Every other code is permanent: invalid_auth, not_authed, token_revoked,
// token_expired, account_inactive, missing_scope, channel_not_found,
// not_in_channel, is_archived, restricted_action, invalid_blocks,
// invalid_attachments, msg_too_long, no_text, invalid_arguments, ...
var retryableAPIErrors = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true, "team_added_to_org": true,
}

// classify turns the outcome of one Slack call into a notify error:
// Retryable (with the Retry-After the server asked for) for 429, 5xx,
// network failures and timeouts, Permanent for rejected credentials,
// channels and payloads. op names the call ("chat.postMessage",
// "webhook"). The returned error never contains a URL: *url.Error, whose
// URL may be the webhook secret, is reduced to its cause.
func classify(ctx context.Context, op string, err error, rec *recorder) error {
	if err == nil {
		return nil
	}
	status, after, body := rec.result()

	var rl *slack.RateLimitedError
	if errors.As(err, &rl) && rl.RetryAfter > after {
		after = rl.RetryAfter
	}
	var apiErr slack.SlackErrorResponse
	switch {
	case status == http.StatusTooManyRequests || rl != nil:
		return notify.Retryable(fmt.Errorf("slack %s: rate limited (HTTP 429)", op), after)
	case status >= 500:
		return notify.Retryable(fmt.Errorf("slack %s: server error: HTTP %d%s", op, status, reason(body)), after)
	case status == http.StatusRequestTimeout:
		return notify.Retryable(fmt.Errorf("slack %s: HTTP 408%s", op, reason(body)), after)
	case status != 0 && status != http.StatusOK:
		return notify.Permanent(fmt.Errorf("slack %s: rejected: HTTP %d%s", op, status, reason(body)))
	case errors.As(err, &apiErr):
		e := fmt.Errorf("slack %s: %w", op, apiErr)
		if retryableAPIErrors[apiErr.Err] {
			return notify.Retryable(e, after)
		}
		return notify.Permanent(e)
	}

	var ue *url.Error
	if errors.As(err, &ue) {
		cause := ue.Err
		if ctxErr := ctx.Err(); ctxErr != nil {
			cause = ctxErr
		}
		if ue.Timeout() {
			return notify.Retryable(fmt.Errorf("slack %s: request failed: timed out: %w", op, cause), 0)
		}
		return notify.Retryable(fmt.Errorf("slack %s: request failed: %w", op, cause), 0)
	}
	if status == http.StatusOK {
		// The call was answered but the answer could not be read.
		return notify.Retryable(fmt.Errorf("slack %s: reading response: %w", op, err), 0)
	}
	// No response and no *url.Error: the request was never sent (e.g. the
	// context was already done). Do not quote err: it may carry the URL.
	if ctxErr := ctx.Err(); ctxErr != nil {
		return notify.Retryable(fmt.Errorf("slack %s: %w", op, ctxErr), 0)
	}
	return notify.Retryable(fmt.Errorf("slack %s: request not sent", op), 0)
}

// reason formats an error body for an error message: a short, printable,
// single-line excerpt, or "" when empty. Slack's webhook reasons look like
// "invalid_token"; HTML error pages are reduced to their start.
func reason(body string) string {
	body = strings.TrimSpace(body)
	if body == "" {
		return ""
	}
	var b strings.Builder
	for _, r := range body {
		if b.Len() >= 100 {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		b.WriteRune(r)
	}
	return " (" + b.String() + ")"
}

// scrub returns err unchanged unless its text contains one of secrets; then
// an error with the same classification whose text has them replaced by
// "<redacted>". This is the last line of defence: classify already avoids
// quoting URLs.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	inner := err
	var p *notify.PermanentError
	var r *notify.RetryableError
	switch {
	case errors.As(err, &p):
		inner = p.Err
	case errors.As(err, &r):
		inner = r.Err
	}
	msg := inner.Error()
	leaked := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	clean := errors.New(msg)
	if p != nil {
		return notify.Permanent(clean)
	}
	return notify.Retryable(clean, notify.RetryAfter(err))
}
