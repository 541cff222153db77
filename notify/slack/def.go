package slack

import (
	"context"
	"fmt"
	"time"

	"github.com/rootwatch/rootwatch/notify"
)

// Environment variables of the Slack settings.
const (
	EnvBotToken   = "SLACK_BOT_TOKEN"
	EnvChannel    = "SLACK_CHANNEL"
	EnvWebhookURL = "SLACK_WEBHOOK_URL"
	EnvAPIURL     = "SLACK_API_URL"
)

// Def describes the Slack sink to the commands that build sinks (see
// notify/sinks).
var Def = notify.SinkDef{
	Name: "slack",
	Kind: notify.KindChat,
	Settings: []notify.Setting{
		{Env: EnvBotToken, Flag: "slack-bot-token", Secret: true, Usage: "Slack bot token (chat.postMessage); needs SLACK_CHANNEL"},
		{Env: EnvChannel, Flag: "slack-channel", Usage: "Slack channel id or name for the bot token"},
		{Env: EnvWebhookURL, Flag: "slack-webhook-url", Secret: true, Usage: "Slack incoming webhook URL (a secret)"},
		{Env: EnvAPIURL, Flag: "slack-api-url", Default: DefaultAPIURL, Usage: "Slack Web API base URL"},
	},
	Hint: "SLACK_BOT_TOKEN and SLACK_CHANNEL, SLACK_WEBHOOK_URL",
	Configured: func(s notify.Settings) bool {
		return s.Get(EnvBotToken) != "" || s.Get(EnvWebhookURL) != "" || s.Get(EnvChannel) != ""
	},
	New: func(_ context.Context, s notify.Settings, deps notify.SinkDeps) (notify.SinkConfig, error) {
		sink, err := New(Config{
			BotToken:   s.Get(EnvBotToken),
			Channel:    s.Get(EnvChannel),
			WebhookURL: s.Get(EnvWebhookURL),
			APIURL:     s.Get(EnvAPIURL),
		}, WithLogger(deps.Logger))
		if err != nil {
			return notify.SinkConfig{}, fmt.Errorf("Slack settings: %w", err)
		}
		// Slack asks for about one message per second per channel. The
		// dispatcher is the only pacer (the sink does not pace itself).
		return notify.SinkConfig{Sink: sink, Kind: notify.KindChat, MinInterval: time.Second}, nil
	},
}
