// Package sinks is the list of every sink rootwatch can deliver to. The
// commands that build sinks (cmd/rootwatch: the settings table, `rootwatch
// config`, `rootwatch notify test`, run and backfill --alert) iterate over
// All; adding a sink is adding its Def here (see notify's package doc,
// "How to add a sink").
package sinks

import (
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/jsonl"
	"github.com/rootwatch/rootwatch/notify/pagerduty"
	"github.com/rootwatch/rootwatch/notify/slack"
	"github.com/rootwatch/rootwatch/notify/sns"
	"github.com/rootwatch/rootwatch/notify/webhook"
)

// All lists every sink, in delivery and documentation order.
var All = []notify.SinkDef{
	slack.Def,
	pagerduty.Def,
	sns.Def,
	webhook.Def,
	jsonl.Def,
}
