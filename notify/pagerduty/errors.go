package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rootwatch/rootwatch/notify"
)

// maxErrorBody is how much of an error response's body is kept to explain
// the failure.
const maxErrorBody = 4096

// classify turns the outcome of one Events API call into a notify error:
// Retryable for 429 (with Retry-After), 408, 5xx, network failures and
// timeouts; Permanent for 400 (invalid event, bad routing key) and other
// 4xx. The error does not quote the client library's error, which embeds
// the request URL and arbitrary response text.
//
// ctx is the caller's context and callCtx the one with the per-call
// timeout.
func classify(ctx, callCtx context.Context, err error, rec *notify.Recorder) error {
	if err == nil {
		return nil
	}
	o := rec.Outcome()
	if o.Status != 0 {
		if c := notify.ClassifyStatus("pagerduty", o.Status, o.RetryAfter, reason(o.Body)); c != nil {
			return c
		}
		// Accepted: the caller has dealt with an unreadable answer.
		return notify.Retryable(fmt.Errorf("pagerduty: reading response: %w", err), 0)
	}
	return notify.ClassifyNoResponse(ctx, callCtx, "pagerduty", o.Err)
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
