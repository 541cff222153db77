// Package slack is rootwatch's Slack sink: it posts each alert with the Web
// API (chat.postMessage, Block Kit, threads for bursts) and/or an incoming
// webhook.
//
// Every string that comes from a CloudTrail event is attacker-controlled.
// The sink renders event values inside inline code spans, with Slack's
// reserved characters (& < >) escaped and backticks replaced, cut to
// MaxFieldRunes runes, with line breaks, control and bidi characters
// neutralised, and in verbatim text objects, so "<!channel>", "<@U123>" or
// "<https://evil|AWS>" show as text, ping nobody and link nowhere. The
// CloudTrail console link is built only from a region and an event id that
// match strict patterns.
//
// Grouping. With the Web API, the first alert of a burst (Group.Seq 0) is a
// new message; the sink remembers its ts per Group.Key (bounded, with
// expiry) and posts later alerts of the burst as replies in its thread, then
// edits the first message to say "… and N more events in this root
// session". If the first message is unknown (expired, or this process did
// not post it) a later alert starts a new message that the rest of the
// burst threads under. With threads shared by replicas (ShareThreads, the
// DynamoDB table), the first message's ts is also kept in the table, so
// that one replica posts it and every replica, and a restarted process,
// replies in its thread (see shared.go). Incoming webhooks cannot reply
// in threads: later alerts of a burst are posted as compact one-line
// messages, every one of them (Send never reports an alert accepted that
// it did not post; the Dispatcher's pacing keeps a long burst within
// Slack's rate).
//
// Late links. A late AssumeRoot link (notify.View.LinkUpdate) is grouped
// in the burst of the alert it completes: it is posted as a reply in that
// alert's thread (a compact line with a webhook), rendered as a "🔗
// Linked" note rather than a new alarm, and does not count as one more
// event of the session; when the link raises the level (an action outside
// the task policy's purpose) it escalates like any reply.
//
// Correlation follow-ups. A correlation alert opens a burst of its own
// (its incident, see notify's grouping); its follow-ups
// (notify.View.CorrelationUpdate) join that burst and are posted as
// replies in its thread (compact with a webhook), rendered as a "➕ N
// more events joined this incident" note listing the new events, not as
// new alarms, and do not count as more events of the session. A
// follow-up sent after the burst's window closed starts a message of its
// own, rendered as the same note.
//
// Escalation. A later alert more severe than everything posted for its
// burst so far must not be buried: with the Web API its reply is also
// broadcast to the channel (reply_broadcast) and says it escalates the
// session, and the first message is edited to show the highest level
// (header, colour, and which event raised it); with a webhook it is posted
// as a full message, not a compact line. "Posted so far" is what this
// process posted.
//
// Delivery. Send makes one attempt per destination and never retries or
// paces: the notify Dispatcher does both (notify.SinkConfig.MinInterval;
// Slack asks for about one message per second per channel). Errors are classified with notify.Retryable (429
// with its Retry-After, 5xx, network failures, timeouts) and
// notify.Permanent (bad token, unknown or archived channel, rejected
// payload, webhook 4xx). When both destinations are configured and only one
// accepted an alert, the sink remembers that (bounded, in memory) so that
// the Dispatcher's retry does not post it there twice.
//
// Secrets. The bot token and webhook URL never appear in errors or logs;
// Config prints masked.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/burst"
)

// Sink posts alerts to Slack. It is safe for concurrent use.
type Sink struct {
	cfg       Config
	render    renderer
	transport http.RoundTripper
	log       *zap.Logger
	now       func() time.Time

	// threads, done and hookTop expire after Config.ThreadTTL on the wall
	// clock and hold at most Config.MaxThreads entries each, the least
	// recently used going first.
	threads *expirable.LRU[string, *thread]
	// done remembers (destination, alert key) pairs already accepted, so a
	// retry after a partial failure does not post twice.
	done *expirable.LRU[string, struct{}]
	// hookTop remembers, per burst, the highest level the webhook posted,
	// to post an escalating follow-up in full.
	hookTop *expirable.LRU[string, detector.Level]

	// shared, when set, holds thread anchors shared by replicas (see
	// ShareThreads); threads is then a cache of it.
	shared burst.Threads
}

var (
	_ notify.Sink         = (*Sink)(nil)
	_ notify.ThreadSharer = (*Sink)(nil)
)

// ShareThreads makes the sink keep its threads' first messages in t,
// shared by replicas: a burst then gets one first message whichever
// replica posts its alerts, and a restarted process keeps replying in the
// threads it finds there. Call it before the first Send (NewDispatcher
// does, with notify.Config.Bursts).
func (s *Sink) ShareThreads(t burst.Threads) { s.shared = t }

// Option customises a Sink.
type Option func(*Sink)

// WithClock sets the clock used for "N minutes ago" and for expiring
// remembered threads (tests use a fixed clock).
func WithClock(now func() time.Time) Option { return func(s *Sink) { s.now = now } }

// WithLogger sets the logger for failures that do not fail Send (a thread
// parent's count that could not be updated).
// The default discards.
func WithLogger(l *zap.Logger) Option { return func(s *Sink) { s.log = l } }

// WithTransport sets the HTTP transport under the sink's own clients (for
// a proxy, custom TLS, or tests). The default is a clone of
// http.DefaultTransport. The per-call timeout (Config.Timeout) applies
// either way.
func WithTransport(rt http.RoundTripper) Option { return func(s *Sink) { s.transport = rt } }

// New returns a Slack sink for cfg, after validating it.
func New(cfg Config, opts ...Option) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Sink{
		cfg:       cfg,
		transport: http.DefaultTransport.(*http.Transport).Clone(),
		log:       zap.NewNop(),
		now:       time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	s.render = renderer{consoleBase: cfg.ConsoleURL, now: s.now}
	s.threads = expirable.NewLRU[string, *thread](cfg.MaxThreads, nil, cfg.ThreadTTL)
	s.done = expirable.NewLRU[string, struct{}](cfg.MaxThreads, nil, cfg.ThreadTTL)
	s.hookTop = expirable.NewLRU[string, detector.Level](cfg.MaxThreads, nil, cfg.ThreadTTL)
	return s, nil
}

// Name returns "slack".
func (s *Sink) Name() string { return "slack" }

// String describes the sink without its secrets.
func (s *Sink) String() string { return "slack sink " + s.cfg.String() }

// destination is one of the sink's two ways to post.
type destination struct {
	name string
	send func(context.Context, *notify.Alert) error
}

// Send posts a to every configured destination: one attempt each. It
// returns nil when all accepted, else an error classified as retryable when
// any destination may still succeed, permanent when none can.
func (s *Sink) Send(ctx context.Context, a *notify.Alert) error {
	if a == nil {
		return notify.Permanent(errors.New("slack: nil alert"))
	}
	var dests []destination
	if s.cfg.BotToken != "" {
		dests = append(dests, destination{"chat.postMessage", s.sendBot})
	}
	if s.cfg.WebhookURL != "" {
		dests = append(dests, destination{"webhook", s.sendWebhook})
	}

	var (
		causes    []error
		permanent = true
		after     time.Duration
	)
	for _, d := range dests {
		key := d.name + "\x00" + a.Key()
		if a.Test {
			key += "\x00test"
		}
		if _, ok := s.done.Get(key); ok {
			continue
		}
		err := notify.Scrub(d.send(ctx, a), s.cfg.BotToken, s.cfg.WebhookURL)
		if err == nil {
			if len(dests) > 1 {
				s.done.Add(key, struct{}{})
			}
			continue
		}
		var p *notify.PermanentError
		var r *notify.RetryableError
		switch {
		case errors.As(err, &p):
			causes = append(causes, p.Err)
		case errors.As(err, &r):
			causes = append(causes, r.Err)
			permanent = false
			after = max(after, r.After)
		default:
			causes = append(causes, err)
			permanent = false
		}
	}
	switch {
	case len(causes) == 0:
		return nil
	case len(causes) == 1 && permanent:
		return notify.Permanent(causes[0])
	case len(causes) == 1:
		return notify.Retryable(causes[0], after)
	case permanent:
		return notify.Permanent(joinErrors(causes))
	default:
		return notify.Retryable(joinErrors(causes), after)
	}
}

// joinErrors wraps errs in one error whose text is theirs separated by
// "; " (errors.Join would put line breaks in log lines).
func joinErrors(errs []error) error {
	format := strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; ")
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(format, args...)
}

// client returns a Web API client and the recorder of its responses, for
// one Send.
func (s *Sink) client() (*slack.Client, *notify.Recorder) {
	rec := notify.NewRecorder(s.transport, maxErrorBody)
	return slack.New(s.cfg.BotToken, slack.OptionAPIURL(s.cfg.APIURL), slack.OptionHTTPClient(s.httpClient(rec))), rec
}

// httpClient returns the client for one call: the per-call timeout, and no
// redirects, which would resend the body (with the token) to another URL;
// a 3xx answer is then a permanent failure.
func (s *Sink) httpClient(rec *notify.Recorder) *http.Client {
	return &http.Client{
		Transport:     rec,
		Timeout:       s.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// thread is a burst's first message, remembered to thread the rest.
type thread struct {
	channel string
	ts      string
	// first is the burst's first alert, which the parent shows.
	first *notify.Alert

	// mu is a one-slot semaphore serialising edits of the parent (a
	// channel, so waiting for it can end with the caller's context);
	// shown is the count the parent shows, shownLevel its level.
	mu         chan struct{}
	shown      int
	shownLevel detector.Level

	// topMu guards top: the most severe alert posted in the thread so
	// far, the first one included.
	topMu sync.Mutex
	top   *notify.Alert
}

// newThread returns the thread of a first message. first is nil when
// another replica posted it and its alert is unknown here; the caller
// then sets top.
func newThread(channel, ts string, first *notify.Alert) *thread {
	th := &thread{channel: channel, ts: ts, first: first, top: first, mu: make(chan struct{}, 1)}
	if first != nil {
		th.shownLevel = first.Level
	}
	return th
}

// highest returns the most severe alert posted in the thread so far.
func (th *thread) highest() *notify.Alert {
	th.topMu.Lock()
	defer th.topMu.Unlock()
	return th.top
}

// raise records that a was posted in the thread.
func (th *thread) raise(a *notify.Alert) {
	th.topMu.Lock()
	defer th.topMu.Unlock()
	if a.Level > th.top.Level {
		th.top = a
	}
}

// msgOptions returns the chat.postMessage / chat.update options for m.
func msgOptions(m Message) []slack.MsgOption {
	return []slack.MsgOption{
		slack.MsgOptionText(m.Text, false),
		slack.MsgOptionBlocks(m.Blocks...),
		slack.MsgOptionAttachments(m.Attachments...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
}

// sendBot posts a with chat.postMessage: a new message, or a reply in the
// thread of its burst's first message followed by an edit of that message's
// count. A reply more severe than everything posted in the thread so far is
// also broadcast to the channel (reply_broadcast), with a line saying it
// escalates the session, and the edit raises the first message to that
// level: an escalation is never buried in a thread.
func (s *Sink) sendBot(ctx context.Context, a *notify.Alert) error {
	api, rec := s.client()
	msg := s.render.Render(a)

	groupKey := ""
	if a.Group != nil {
		groupKey = a.Group.Key
	}
	var th *thread
	if groupKey != "" && (a.Group.Seq > 0 || s.shared != nil) {
		th, _ = s.threads.Get(groupKey)
	}
	token := ""
	if th == nil && groupKey != "" && s.shared != nil {
		var err error
		if th, token, err = s.sharedThread(ctx, groupKey, a); err != nil {
			return err
		}
	}

	if th == nil {
		channel, ts, err := api.PostMessageContext(ctx, s.cfg.Channel, msgOptions(msg)...)
		if err != nil {
			if token != "" {
				s.releaseShared(groupKey, token)
			}
			return classify(ctx, "chat.postMessage", err, rec)
		}
		if groupKey != "" && ts != "" {
			first := *a
			s.threads.Add(groupKey, newThread(channel, ts, &first))
			if token != "" {
				s.publishShared(ctx, groupKey, token, channel, ts, &first)
			}
		}
		return nil
	}

	was := th.highest().Level
	escalates := a.Level > was
	if escalates {
		msg = WithEscalation(msg, a.Level, was)
	}
	opts := append(msgOptions(msg), slack.MsgOptionTS(th.ts))
	if escalates {
		opts = append(opts, slack.MsgOptionBroadcast())
	}
	if _, _, err := api.PostMessageContext(ctx, th.channel, opts...); err != nil {
		if isGoneParent(err) {
			// The first message was deleted: forget it, so that the
			// Dispatcher's retry posts this alert as a new message.
			s.threads.Remove(groupKey)
			s.forgetShared(ctx, groupKey, th.ts)
			return notify.Retryable(fmt.Errorf("slack chat.postMessage: the burst's first message is gone: %w", errParentGone), 0)
		}
		return classify(ctx, "chat.postMessage", err, rec)
	}
	posted := *a
	th.raise(&posted)
	if (a.LinkUpdate || a.CorrelationUpdate != "") && !escalates {
		// A late AssumeRoot link, or a correlation follow-up, is a note
		// on an alert of the thread, not one more event of the session.
		return nil
	}
	more := max(a.Group.Count-1, a.Group.Seq)
	s.updateParent(ctx, groupKey, th, more)
	return nil
}

// errParentGone is the cause of a reply that failed because the thread's
// first message no longer exists.
var errParentGone = errors.New("thread parent not found")

// isGoneParent reports whether err is Slack saying a message or thread
// does not exist.
func isGoneParent(err error) bool {
	var apiErr slack.SlackErrorResponse
	return errors.As(err, &apiErr) && (apiErr.Err == "thread_not_found" || apiErr.Err == "message_not_found")
}

// updateParent edits a burst's first message to show more further events
// and the highest level posted in the thread. The reply that triggered it
// is already posted, so a failure is logged, not returned (returning it
// would make the Dispatcher post the reply again); the next reply retries
// the edit.
func (s *Sink) updateParent(ctx context.Context, groupKey string, th *thread, more int) {
	select {
	case th.mu <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-th.mu }()
	if th.first == nil {
		return // a shared thread whose first message this process cannot render
	}
	top := th.highest()
	if more <= th.shown && top.Level <= th.shownLevel {
		return
	}
	more = max(more, th.shown)
	api, rec := s.client()
	upd := WithMoreCount(s.render.RenderParent(th.first, top), more)
	if _, _, _, err := api.UpdateMessageContext(ctx, th.channel, th.ts, msgOptions(upd)...); err != nil {
		if isGoneParent(err) {
			s.threads.Remove(groupKey)
		}
		err = notify.Scrub(classify(ctx, "chat.update", err, rec), s.cfg.BotToken, s.cfg.WebhookURL)
		s.log.Warn("slack: could not update the count and level of a thread's first message",
			zap.String("channel", th.channel), zap.String("ts", th.ts), zap.Int("more", more),
			zap.Stringer("level", top.Level), zap.Error(err))
		return
	}
	th.shown = more
	th.shownLevel = top.Level
}

// sendWebhook posts a to the incoming webhook: the full message for a
// burst's first alert and for a later one more severe than everything the
// webhook posted for the burst so far (an escalation; a webhook cannot
// reply in a thread, nor edit), a compact line for other later ones. It
// never accepts an alert without posting it.
func (s *Sink) sendWebhook(ctx context.Context, a *notify.Alert) error {
	seq, groupKey := 0, ""
	if a.Group != nil {
		seq, groupKey = a.Group.Seq, a.Group.Key
	}
	var was detector.Level
	known := false
	if groupKey != "" {
		was, known = s.hookTop.Get(groupKey)
	}
	var msg Message
	switch {
	case seq == 0:
		msg = s.render.Render(a)
	case known && a.Level > was:
		msg = WithEscalation(s.render.Render(a), a.Level, was)
	default:
		msg = s.render.RenderFollowUp(a)
	}

	rec := notify.NewRecorder(s.transport, maxErrorBody)
	hc := s.httpClient(rec)
	off := false
	wm := &slack.WebhookMessage{
		Text:        msg.Text,
		Blocks:      &slack.Blocks{BlockSet: msg.Blocks},
		Attachments: msg.Attachments,
		UnfurlLinks: &off,
		UnfurlMedia: &off,
	}
	if err := slack.PostWebhookCustomHTTPContext(ctx, s.cfg.WebhookURL, hc, wm); err != nil {
		return classify(ctx, "webhook", err, rec)
	}
	// Only what was posted counts.
	if groupKey != "" && (!known || a.Level > was) {
		s.hookTop.Add(groupKey, max(a.Level, was))
	}
	return nil
}
