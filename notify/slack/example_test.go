package slack_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/slack"
)

// ExampleNew builds the sink from the environment variables the service
// reads, as cmd/rootwatch does, and sends the `rootwatch notify test`
// alert.
func ExampleNew() {
	sink, err := slack.New(slack.Config{
		BotToken:   os.Getenv("SLACK_BOT_TOKEN"),
		Channel:    os.Getenv("SLACK_CHANNEL"),
		WebhookURL: os.Getenv("SLACK_WEBHOOK_URL"),
		APIURL:     os.Getenv("SLACK_API_URL"), // empty: https://slack.com/api/
	}, slack.WithLogger(zap.NewExample()))
	if err != nil {
		fmt.Println(err) // never contains the token or the webhook URL
		return
	}
	fmt.Println(sink) // secrets masked
	if err := sink.Send(context.Background(), notify.TestAlert(time.Now())); err != nil {
		fmt.Println("retry later:", !notify.IsPermanent(err), err)
	}
}
