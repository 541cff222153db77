package pagerduty

import (
	"context"
	"fmt"

	"github.com/rootwatch/rootwatch/notify"
)

// Environment variables of the PagerDuty settings.
const (
	EnvRoutingKey = "PAGERDUTY_ROUTING_KEY"
	EnvEventsURL  = "PAGERDUTY_EVENTS_URL"
)

// Def describes the PagerDuty sink to the commands that build sinks (see
// notify/sinks).
var Def = notify.SinkDef{
	Name: "pagerduty",
	Kind: notify.KindPaging,
	Settings: []notify.Setting{
		{Env: EnvRoutingKey, Flag: "pagerduty-routing-key", Secret: true, Usage: "PagerDuty Events API v2 routing key"},
		{Env: EnvEventsURL, Flag: "pagerduty-events-url", Default: DefaultEventsURL, Usage: "PagerDuty Events API base URL (EU: https://events.eu.pagerduty.com)"},
	},
	Hint:       EnvRoutingKey,
	Configured: func(s notify.Settings) bool { return s.Get(EnvRoutingKey) != "" },
	New: func(_ context.Context, s notify.Settings, deps notify.SinkDeps) (notify.SinkConfig, error) {
		sink, err := New(Config{RoutingKey: s.Get(EnvRoutingKey), EventsURL: s.Get(EnvEventsURL)}, WithLogger(deps.Logger))
		if err != nil {
			return notify.SinkConfig{}, fmt.Errorf("PagerDuty settings: %w", err)
		}
		return notify.SinkConfig{Sink: sink, Kind: notify.KindPaging}, nil
	},
}
