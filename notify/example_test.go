package notify_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/dedupe"
	"github.com/rootwatch/rootwatch/notify/jsonl"
	"github.com/rootwatch/rootwatch/notify/route"
)

// printSink stands for the Slack sink in this example.
type printSink struct{}

func (printSink) Name() string { return "slack" }

func (printSink) Send(_ context.Context, a *notify.Alert) error {
	fmt.Printf("slack: %s %s in %s (%s), burst %d/%d\n", a.Level, a.Rule, a.AccountID, a.AccountName, a.Group.Seq+1, a.Group.Count)
	return nil
}

// The wiring cmd/rootwatch does: sinks by kind, the routes file, a ledger,
// and the stdout audit sink unless ROOTWATCH_STDOUT_ALERTS=false.
func ExampleNewDispatcher() {
	routes, err := route.Parse("routes.yml", []byte(`accounts: {"111122223333": prod-payments}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := notify.NewDispatcher(notify.Config{
		Sinks: []notify.SinkConfig{
			{Sink: printSink{}, Kind: notify.KindChat, Timeout: 10 * time.Second, MinInterval: time.Second},
			{Sink: jsonl.New(os.Stdout), Kind: notify.KindAudit},
		},
		Routes:     routes,
		Ledger:     dedupe.NewMemory(), // or dedupe.NewDynamoDB(client, table)
		Logger:     zap.NewNop(),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ds := []detector.Detection{{
		Rule: "root-console-login", Level: detector.LevelHigh, Title: "Root console sign-in",
		EventID: "ev-1", EventTime: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC),
		AccountID: "111122223333", SourceIP: "203.0.113.7", Source: "-",
	}}
	for range 2 { // the second delivery (a redelivery) reaches Slack no more
		if err := d.Deliver(context.Background(), ds); err != nil {
			fmt.Println(err)
		}
	}
	// Unordered output:
	// slack: high root-console-login in 111122223333 (prod-payments), burst 1/1
	// {"rule":"root-console-login","level":"high","title":"Root console sign-in","event_id":"ev-1","event_name":"","event_source":"","event_time":"2026-11-26T19:00:00Z","account_id":"111122223333","region":"","source_ip":"203.0.113.7","user_agent":"","principal":"","source":"-"}
	// {"rule":"root-console-login","level":"high","title":"Root console sign-in","event_id":"ev-1","event_name":"","event_source":"","event_time":"2026-11-26T19:00:00Z","account_id":"111122223333","region":"","source_ip":"203.0.113.7","user_agent":"","principal":"","source":"-"}
}
