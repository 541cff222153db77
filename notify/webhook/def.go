package webhook

import (
	"context"
	"fmt"

	"github.com/rootwatch/rootwatch/notify"
)

// Environment variables of the webhook settings.
const (
	EnvURL    = "ROOTWATCH_WEBHOOK_URL"
	EnvSecret = "ROOTWATCH_WEBHOOK_SECRET"
)

// Def describes the webhook sink to the commands that build sinks (see
// notify/sinks). It is a chat sink: without a routes file every level is
// POSTed (a receiver filters on alert.level, or a routes file names
// "webhook" where it should go).
var Def = notify.SinkDef{
	Name: Name,
	Kind: notify.KindChat,
	Settings: []notify.Setting{
		{Env: EnvURL, Flag: "webhook-url", Secret: true, Usage: "generic webhook: URL the signed alert JSON is POSTed to (https; http only to localhost)"},
		{Env: EnvSecret, Flag: "webhook-secret", Secret: true, Usage: "generic webhook: HMAC-SHA256 signing secret, at least 32 characters (new,old while rotating)"},
	},
	Hint:       EnvURL + " and " + EnvSecret,
	Configured: func(s notify.Settings) bool { return s.Get(EnvURL) != "" || s.Get(EnvSecret) != "" },
	New: func(_ context.Context, s notify.Settings, _ notify.SinkDeps) (notify.SinkConfig, error) {
		sink, err := New(Config{URL: s.Get(EnvURL), Secrets: ParseSecrets(s.Get(EnvSecret))})
		if err != nil {
			return notify.SinkConfig{}, fmt.Errorf("webhook settings (%s, %s): %w", EnvURL, EnvSecret, err)
		}
		return notify.SinkConfig{Sink: sink, Kind: notify.KindChat}, nil
	},
}
