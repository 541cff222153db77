// Package sns is the Amazon SNS sink: it publishes every alert to a topic
// as a JSON message (schema rootwatch.alert/v1, see Message) with a
// readable Subject, so that a team can fan alerts out to e-mail, SMS, AWS
// Chatbot, SQS or Lambda subscribers. Message attributes carry the level,
// rule and account for subscription filter policies. FIFO topics get a
// message group id (the account) and a deduplication id (a hash of the
// alert key).
//
// The SDK's own retries are off: the notify.Dispatcher retries, with its
// backoff, breaker and ack contract, from the classification of each
// failure (throttling, 5xx and network errors are retryable; a missing
// topic, missing permissions, a disabled KMS key or an invalid parameter
// are permanent).
package sns

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
)

// Name is the sink's name in routes, ledgers, logs and metrics.
const Name = "sns"

// Publisher is the part of the SNS client the sink uses.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Sink publishes alerts to one SNS topic. It is safe for concurrent use.
type Sink struct {
	client  Publisher
	topic   Topic
	cfg     Config
	log     *zap.Logger
	omitted *prometheus.CounterVec
}

var _ notify.Sink = (*Sink)(nil)

// Option configures a Sink.
type Option func(*Sink)

// WithLogger sets the sink's logger.
func WithLogger(l *zap.Logger) Option {
	return func(s *Sink) {
		if l != nil {
			s.log = l
		}
	}
}

// WithRegisterer registers the sink's metric (rootwatch_sns_omitted_total)
// with r.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(s *Sink) {
		if r != nil {
			r.MustRegister(s.omitted)
		}
	}
}

// NewClient returns the SNS client of the sink for the topic: the SDK
// configuration's credentials and endpoint (AWS_ENDPOINT_URL_SNS), the
// topic's region, and no SDK retries (the Dispatcher retries).
func NewClient(awsCfg aws.Config, topic Topic) *sns.Client {
	return sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		o.Region = topic.Region
		o.Retryer = aws.NopRetryer{}
	})
}

// New returns a Sink publishing with client to cfg.TopicARN.
func New(cfg Config, client Publisher, opts ...Option) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("sns: nil client")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	topic, _ := ParseTopicARN(cfg.TopicARN)
	s := &Sink{client: client, topic: topic, cfg: cfg, log: zap.NewNop(),
		omitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_sns_omitted_total",
			Help: "Parts (record, detection) left out of SNS messages to respect the size limit or because they were invalid.",
		}, []string{"part"}),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Name returns "sns".
func (s *Sink) Name() string { return Name }

// Send publishes a. It returns nil only when SNS answered with a message
// id.
func (s *Sink) Send(ctx context.Context, a *notify.Alert) error {
	in, omitted, err := s.input(a)
	if err != nil {
		return notify.Permanent(err)
	}
	for _, part := range omitted {
		s.omitted.WithLabelValues(part).Inc()
	}
	if len(omitted) > 0 {
		s.log.Warn("sns: parts of the alert left out of the message", zap.Strings("omitted", omitted), zap.String("alert", a.Key()))
	}
	callCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	out, err := s.client.Publish(callCtx, in)
	if err != nil {
		return classify(ctx, callCtx, err)
	}
	if out == nil || aws.ToString(out.MessageId) == "" {
		return notify.Retryable(fmt.Errorf("%s: publish answered without a message id", prefix), 0)
	}
	s.log.Debug("sns: published", zap.String("message_id", aws.ToString(out.MessageId)), zap.String("alert", a.Key()))
	return nil
}

// input builds the Publish request of a, and names what it left out of
// the message.
func (s *Sink) input(a *notify.Alert) (*sns.PublishInput, []string, error) {
	v := notify.NewView(a, s.cfg.ConsoleURL)
	subject := Subject(v)
	attrs := attributes(v)
	msg, omitted, err := body(a, v, subject, MaxMessageBytes-attributesSize(attrs))
	if err != nil {
		return nil, omitted, err
	}
	in := &sns.PublishInput{
		TopicArn:          aws.String(s.topic.ARN),
		Message:           aws.String(string(msg)),
		Subject:           aws.String(subject),
		MessageAttributes: attrs,
	}
	if s.topic.FIFO {
		in.MessageGroupId = aws.String(groupID(v))
		in.MessageDeduplicationId = aws.String(dedupID(a))
	}
	return in, omitted, nil
}
