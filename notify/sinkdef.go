package notify

import (
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Setting is one configuration knob of a sink: an environment variable and
// a flag with the same meaning (cmd/rootwatch's settings table, `rootwatch
// config` and the README list it).
type Setting struct {
	// Env is the environment variable ("SLACK_CHANNEL"); Settings are keyed
	// by it.
	Env string
	// Flag is the long flag name ("slack-channel").
	Flag string
	// Default is the value when neither is given ("" for none).
	Default string
	// Usage is the one-line meaning shown in help, `rootwatch config` and
	// the README.
	Usage string
	// Secret marks a value that is never printed (tokens, keys, secret
	// URLs).
	Secret bool
	// Bool makes the flag a boolean switch (--flag, --flag=false); its
	// value is "true" or "false".
	Bool bool
}

// Settings are a sink's resolved setting values, keyed by Setting.Env.
type Settings map[string]string

// Get returns the value of the setting with environment variable env.
func (s Settings) Get(env string) string { return s[env] }

// SinkDeps are what every sink's constructor may use, shared by all sinks.
type SinkDeps struct {
	// Logger is the sink's logger, already named after it.
	Logger *zap.Logger
	// Registerer registers the sink's own metrics, if any; never nil.
	Registerer prometheus.Registerer
	// AWSConfig loads the AWS SDK configuration (credentials, region, and
	// the AWS_ENDPOINT_URL_<SERVICE> endpoints) the first time it is
	// called; for sinks that call an AWS API.
	AWSConfig func(ctx context.Context) (aws.Config, error)
	// Stdout is the process's standard output (the audit sink's).
	Stdout io.Writer
}

// SinkDef describes one kind of sink to the commands that build sinks:
// its settings, whether they configure it, and how to build it. Every
// sink package exports one (e.g. slack.Def); notify/sinks lists them.
type SinkDef struct {
	// Name is the sink's name in routes, ledgers, logs and metrics.
	Name string
	// Kind decides the default routes; KindAudit sinks are left out of
	// `rootwatch notify test`.
	Kind SinkKind
	// Settings are the sink's settings, in the order they are documented.
	Settings []Setting
	// Hint says which settings turn the sink on, for the "no sink
	// configured" messages ("PAGERDUTY_ROUTING_KEY").
	Hint string
	// Configured reports whether s turn the sink on. A sink that is not
	// configured is not built.
	Configured func(s Settings) bool
	// New builds the sink from s, checking every setting; its errors name
	// the settings at fault and never quote a secret.
	New func(ctx context.Context, s Settings, deps SinkDeps) (SinkConfig, error)
}
