// Package webhook is rootwatch's generic webhook sink: it POSTs each alert
// as JSON to one URL, signed with HMAC-SHA256, for SOAR tools, Opsgenie or
// Teams workflows and in-house receivers.
//
// # Request
//
//	POST <ROOTWATCH_WEBHOOK_URL>
//	Content-Type: application/json
//	User-Agent: rootwatch-webhook/1
//	Rootwatch-Webhook-Version: 1
//	Rootwatch-Delivery: root-console-login/3f1c...   (Payload.ID)
//	Rootwatch-Signature: t=1764586800,v1=5257a869...
//
//	{"version":1,"id":"root-console-login/3f1c...",
//	 "alert":{"level":"high","title":"Root console sign-in","account_name":"prod",
//	          "console_url":"https://...","group":{"key":"...","seq":0,"count":1,"started":"..."}},
//	 "detection":{"rule":"root-console-login","level":"high","event_id":"3f1c...",...}}
//
// The body is a Payload: "detection" is byte for byte the line the audit
// log and `rootwatch scan --format json` write (notify/jsonl), "alert" what
// delivery adds (account name, console link, burst). Version 1 only grows:
// receivers must ignore unknown fields. Every string from the event is as
// received, JSON-escaped (control characters, U+2028 and U+2029 as \u
// escapes, invalid UTF-8 as U+FFFD): a receiver that renders it to people
// must escape it for its medium.
//
// # Signature
//
// Rootwatch-Signature is "t=<unix seconds>,v1=<hex>": the v1 signature is
// the hex HMAC-SHA256, keyed by ROOTWATCH_WEBHOOK_SECRET, of the timestamp,
// a dot and the raw body (Sign). A receiver recomputes it over the body as
// received, compares in constant time, rejects a timestamp more than 5
// minutes from its clock (a replayed request) and drops a delivery id it
// has already processed (rootwatch redelivers when it got no 2xx). Verify
// does all but the last. While a secret is rotated,
// ROOTWATCH_WEBHOOK_SECRET holds the new and the old secret separated by a
// comma and every delivery carries one v1 per secret; a receiver accepts
// the request when any matches.
//
// # Outcome
//
// Send makes one attempt (the notify Dispatcher retries): a 2xx answer is
// accepted; 429 (with its Retry-After), 408, 5xx, network failures and
// timeouts are notify.Retryable; every other status, redirects included
// (they are not followed: they would send the signed alert elsewhere), is
// notify.Permanent. The URL and the secrets never appear in errors.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rootwatch/rootwatch/notify"
)

const (
	// Name is the sink's name in routes, ledgers, logs and metrics.
	Name = "webhook"
	// userAgent identifies rootwatch's requests.
	userAgent = "rootwatch-webhook/1"
	// maxErrorBody is how much of an error response's body is kept to
	// explain the failure.
	maxErrorBody = 4096
	// maxReasonRunes is how much of it an error quotes.
	maxReasonRunes = 200
	// maxResponseBody is how much of an accepted response's body is read
	// (and discarded) so that the connection can be reused.
	maxResponseBody = 64 << 10
)

// Sink POSTs signed alerts to a URL. It is safe for concurrent use.
type Sink struct {
	cfg Config
	// secrets are scrubbed from errors: the URL, its path and query (a
	// receiver may echo them) and the signing secrets.
	secrets   []string
	transport http.RoundTripper
	now       func() time.Time
}

var _ notify.Sink = (*Sink)(nil)

// Option customises a Sink.
type Option func(*Sink)

// WithTransport sets the HTTP transport (for a proxy, custom TLS, or
// tests). The default is a clone of http.DefaultTransport. The per-call
// timeout (Config.Timeout) applies either way.
func WithTransport(rt http.RoundTripper) Option { return func(s *Sink) { s.transport = rt } }

// WithClock sets the clock of the signature timestamps (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(s *Sink) { s.now = now } }

// New returns a webhook sink for cfg, after validating it.
func New(cfg Config, opts ...Option) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:       cfg.withDefaults(),
		transport: http.DefaultTransport.(*http.Transport).Clone(),
		now:       time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	s.secrets = append([]string{cfg.URL}, cfg.Secrets...)
	if u, err := url.Parse(cfg.URL); err == nil {
		for _, p := range []string{u.Path, u.EscapedPath(), u.RawQuery, u.Query().Encode()} {
			if len(p) > 1 {
				s.secrets = append(s.secrets, p)
			}
		}
	}
	return s, nil
}

// Name returns "webhook".
func (s *Sink) Name() string { return Name }

// String describes the sink without its URL and secrets.
func (s *Sink) String() string { return "webhook sink " + s.cfg.String() }

// Send POSTs a, signed: one attempt.
func (s *Sink) Send(ctx context.Context, a *notify.Alert) error {
	if a == nil {
		return notify.Permanent(errors.New("webhook: nil alert"))
	}
	body, err := Body(a, s.cfg.ConsoleURL)
	if err != nil {
		return notify.Permanent(err)
	}
	return s.scrub(s.post(ctx, a, body))
}

func (s *Sink) scrub(err error) error {
	return notify.Scrub(err, s.secrets...)
}

func (s *Sink) post(ctx context.Context, a *notify.Alert, body []byte) error {
	callCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		// Validate parsed the URL: not expected. The error quotes it.
		return notify.Permanent(errors.New("webhook: cannot build the request"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderVersion, strconv.Itoa(Version))
	req.Header.Set(HeaderDelivery, DeliveryID(a))
	req.Header.Set(HeaderSignature, SignatureHeader(s.now().Unix(), body, s.cfg.Secrets...))

	rec := notify.NewRecorder(s.transport, maxErrorBody)
	client := &http.Client{
		Transport: rec,
		// The context deadline tells a timeout apart; this is a backstop.
		Timeout: s.cfg.Timeout + time.Second,
		// Redirects are not followed: a 3xx is a permanent failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		cause := rec.Outcome().Err
		if cause == nil {
			cause = err
		}
		return notify.ClassifyNoResponse(ctx, callCtx, "webhook", cause)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	o := rec.Outcome()
	if o.Status == 0 {
		return notify.Retryable(fmt.Errorf("webhook: no status recorded"), 0)
	}
	return notify.ClassifyStatus("webhook", o.Status, o.RetryAfter, notify.Reason(string(o.Body), maxReasonRunes))
}
