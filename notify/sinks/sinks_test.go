package sinks

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
)

// TestDefsAreComplete checks what cmd/rootwatch relies on for every sink:
// a unique name, settings with unique variables and flags, usage text, a
// hint, and the two functions.
func TestDefsAreComplete(t *testing.T) {
	names := map[string]bool{}
	envs := map[string]bool{}
	flags := map[string]bool{}
	for _, d := range All {
		if d.Name == "" || names[d.Name] {
			t.Errorf("sink name %q empty or repeated", d.Name)
		}
		names[d.Name] = true
		if d.Configured == nil || d.New == nil || d.Hint == "" || len(d.Settings) == 0 {
			t.Errorf("%s: incomplete SinkDef", d.Name)
		}
		for _, s := range d.Settings {
			if s.Env == "" || s.Flag == "" || s.Usage == "" || envs[s.Env] || flags[s.Flag] {
				t.Errorf("%s: setting %+v incomplete or repeated", d.Name, s)
			}
			envs[s.Env], flags[s.Flag] = true, true
			if s.Bool && s.Default != "true" && s.Default != "false" {
				t.Errorf("%s: boolean setting %s has default %q", d.Name, s.Env, s.Default)
			}
		}
	}
}

func defaults(d notify.SinkDef) notify.Settings {
	s := notify.Settings{}
	for _, st := range d.Settings {
		s[st.Env] = st.Default
	}
	return s
}

// TestBuildFromSettings builds every sink from its settings as the
// commands do: the chat and paging sinks are off with only the defaults,
// a valid setting builds a sink of the def's name and kind, and a bad one
// fails naming the sink without quoting the secret.
func TestBuildFromSettings(t *testing.T) {
	deps := notify.SinkDeps{Logger: zap.NewNop(), Registerer: prometheus.NewRegistry(), Stdout: &bytes.Buffer{},
		AWSConfig: func(context.Context) (aws.Config, error) { return aws.Config{Region: "us-east-1"}, nil }}
	on := map[string]notify.Settings{
		"slack":     {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/s3cret"},
		"pagerduty": {"PAGERDUTY_ROUTING_KEY": "R0UTINGKEY"},
		"sns":       {"ROOTWATCH_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts"},
		"webhook":   {"ROOTWATCH_WEBHOOK_URL": "https://soar.example/hook?token=s3cret", "ROOTWATCH_WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef"},
		"stdout":    {},
	}
	bad := map[string]notify.Settings{
		"slack":     {"SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/T/B/s3cret"},
		"pagerduty": {"PAGERDUTY_ROUTING_KEY": "R0UTING KEY"},
		"sns":       {"ROOTWATCH_SNS_TOPIC_ARN": "arn:aws:sqs:eu-west-1:123456789012:alerts"},
		"webhook":   {"ROOTWATCH_WEBHOOK_URL": "http://soar.example/hook?token=s3cret", "ROOTWATCH_WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef"},
	}
	for _, d := range All {
		s := defaults(d)
		if d.Kind != notify.KindAudit && d.Configured(s) {
			t.Errorf("%s: configured by its defaults alone", d.Name)
		}
		for k, v := range on[d.Name] {
			s[k] = v
		}
		if !d.Configured(s) {
			t.Errorf("%s: not configured by %v", d.Name, on[d.Name])
			continue
		}
		sc, err := d.New(context.Background(), s, deps)
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if sc.Sink.Name() != d.Name || sc.Kind != d.Kind {
			t.Errorf("%s: built %s of kind %v", d.Name, sc.Sink.Name(), sc.Kind)
		}
		if b, ok := bad[d.Name]; ok {
			s := defaults(d)
			for k, v := range b {
				s[k] = v
			}
			_, err := d.New(context.Background(), s, deps)
			if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "R0UTING") {
				t.Errorf("%s: bad settings gave %v", d.Name, err)
			}
		}
	}
}
