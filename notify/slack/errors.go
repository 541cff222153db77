package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/slack-go/slack"

	"github.com/rootwatch/rootwatch/notify"
)

// maxErrorBody is how much of an error response's body is kept to explain
// the failure (Slack webhooks answer with a short reason such as
// "invalid_token" or "no_service").
const maxErrorBody = 512

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
func classify(ctx context.Context, op string, err error, rec *notify.Recorder) error {
	if err == nil {
		return nil
	}
	o := rec.Outcome()
	prefix := "slack " + op
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return notify.Retryable(fmt.Errorf("%s: rate limited (HTTP 429)", prefix), max(o.RetryAfter, rl.RetryAfter))
	}
	if c := notify.ClassifyStatus(prefix, o.Status, o.RetryAfter, notify.Reason(string(o.Body), 100)); c != nil {
		return c
	}
	var apiErr slack.SlackErrorResponse
	if errors.As(err, &apiErr) {
		e := fmt.Errorf("%s: %w", prefix, apiErr)
		if retryableAPIErrors[apiErr.Err] {
			return notify.Retryable(e, o.RetryAfter)
		}
		return notify.Permanent(e)
	}
	if o.Status != 0 {
		// The call was answered but the answer could not be read.
		return notify.Retryable(fmt.Errorf("%s: reading response: %w", prefix, err), 0)
	}
	// No answer. Quote only a *url.Error's cause (its URL may be the
	// webhook secret), and nothing of another error, which may carry it.
	cause := o.Err
	var ue *url.Error
	if cause == nil && errors.As(err, &ue) {
		cause = ue
	}
	return notify.ClassifyNoResponse(ctx, ctx, prefix, cause)
}
