package pagerduty_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/pagerduty"
)

// ExampleNew builds the sink from the environment variables the service
// reads, as cmd/rootwatch does, and sends the `rootwatch notify test`
// alert.
func ExampleNew() {
	sink, err := pagerduty.New(pagerduty.Config{
		RoutingKey: os.Getenv("PAGERDUTY_ROUTING_KEY"),
		EventsURL:  os.Getenv("PAGERDUTY_EVENTS_URL"), // empty: https://events.pagerduty.com
	}, pagerduty.WithLogger(zap.NewExample()))
	if err != nil {
		fmt.Println(err) // never contains the routing key
		return
	}
	if err := sink.Send(context.Background(), notify.TestAlert(time.Now())); err != nil {
		fmt.Println("retry later:", !notify.IsPermanent(err), err)
	}
}
