package jsonl

import (
	"context"
	"errors"

	"github.com/rootwatch/rootwatch/notify"
)

// EnvStdoutAlerts turns the audit sink on or off.
const EnvStdoutAlerts = "ROOTWATCH_STDOUT_ALERTS"

// Def describes the stdout audit sink to the commands that build sinks
// (see notify/sinks). It is on unless ROOTWATCH_STDOUT_ALERTS is false.
var Def = notify.SinkDef{
	Name: Name,
	Kind: notify.KindAudit,
	Settings: []notify.Setting{
		{Env: EnvStdoutAlerts, Flag: "stdout-alerts", Default: "true", Bool: true, Usage: "print every detection handed to delivery as a JSON line on stdout (audit trail)"},
	},
	Hint:       EnvStdoutAlerts,
	Configured: func(s notify.Settings) bool { return s.Get(EnvStdoutAlerts) != "false" },
	New: func(_ context.Context, _ notify.Settings, deps notify.SinkDeps) (notify.SinkConfig, error) {
		if deps.Stdout == nil {
			return notify.SinkConfig{}, errors.New("stdout audit sink: no standard output")
		}
		return notify.SinkConfig{Sink: New(deps.Stdout), Kind: notify.KindAudit}, nil
	},
}
