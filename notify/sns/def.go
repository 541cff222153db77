package sns

import (
	"context"
	"errors"
	"fmt"

	"github.com/rootwatch/rootwatch/notify"
)

// EnvTopicARN is the environment variable of the topic ARN.
const EnvTopicARN = "ROOTWATCH_SNS_TOPIC_ARN"

// Def describes the SNS sink to the commands that build sinks (see
// notify/sinks). It is a chat sink (every level by default): subscribers
// narrow it with filter policies on the level attribute, and routes files
// name it "sns".
var Def = notify.SinkDef{
	Name: Name,
	Kind: notify.KindChat,
	Settings: []notify.Setting{
		{Env: EnvTopicARN, Flag: "sns-topic-arn", Usage: "Amazon SNS topic ARN to publish every alert to as JSON (endpoint: AWS_ENDPOINT_URL_SNS)"},
	},
	Hint:       EnvTopicARN,
	Configured: func(s notify.Settings) bool { return s.Get(EnvTopicARN) != "" },
	New: func(ctx context.Context, s notify.Settings, deps notify.SinkDeps) (notify.SinkConfig, error) {
		cfg := Config{TopicARN: s.Get(EnvTopicARN)}
		if err := cfg.Validate(); err != nil {
			return notify.SinkConfig{}, fmt.Errorf("%s: %w", EnvTopicARN, err)
		}
		if deps.AWSConfig == nil {
			return notify.SinkConfig{}, errors.New("sns: no AWS configuration")
		}
		awsCfg, err := deps.AWSConfig(ctx)
		if err != nil {
			return notify.SinkConfig{}, err
		}
		topic, _ := ParseTopicARN(cfg.TopicARN)
		sink, err := New(cfg, NewClient(awsCfg, topic), WithLogger(deps.Logger), WithRegisterer(deps.Registerer))
		if err != nil {
			return notify.SinkConfig{}, err
		}
		return notify.SinkConfig{Sink: sink, Kind: notify.KindChat}, nil
	},
}
