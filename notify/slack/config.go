package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/notify"
)

// Defaults for Config fields left zero.
const (
	// DefaultAPIURL is Slack's Web API base URL.
	DefaultAPIURL = "https://slack.com/api/"
	// DefaultTimeout bounds one HTTP call to Slack.
	DefaultTimeout = 10 * time.Second
	// DefaultThreadTTL is how long the sink remembers a burst's first
	// message, to thread the burst's later alerts under it.
	DefaultThreadTTL = 24 * time.Hour
	// DefaultMaxThreads bounds the bursts remembered at once (each holds
	// its first message, a few KB).
	DefaultMaxThreads = 2000
)

// Config configures the Slack sink. Set BotToken and Channel (Web API,
// chat.postMessage with threading), WebhookURL (incoming webhook), or both.
//
// BotToken and WebhookURL are secrets: String, GoString and MarshalJSON
// mask them, and the sink never puts them in errors or logs.
type Config struct {
	// BotToken is a bot token (xoxb-...) with chat:write (SLACK_BOT_TOKEN).
	BotToken string
	// Channel is the channel id or name to post to (SLACK_CHANNEL). The bot
	// must be a member of it.
	Channel string
	// WebhookURL is an incoming webhook URL (SLACK_WEBHOOK_URL). It must be
	// https (plain http only to a loopback address).
	WebhookURL string
	// APIURL is the Web API base URL, ending in "/" (SLACK_API_URL);
	// DefaultAPIURL when empty. It must be https (plain http only to a
	// loopback address): the bot token is sent with every call.
	APIURL string
	// Timeout bounds each HTTP call; DefaultTimeout when zero.
	Timeout time.Duration
	// ConsoleURL overrides the AWS console base URL of event links, for
	// partitions other than aws (e.g. "https://console.amazonaws-us-gov.com").
	// Empty means "https://<region>.console.aws.amazon.com".
	ConsoleURL string
	// ThreadTTL is how long a burst's first message is remembered for
	// threading; DefaultThreadTTL when zero.
	ThreadTTL time.Duration
	// MaxThreads bounds the number of bursts remembered; DefaultMaxThreads
	// when zero.
	MaxThreads int
	// ThreadLease is how long a claim to post a burst's first message in
	// the shared thread store lasts (Sink.ShareThreads): another replica
	// takes over after it when the owner died before posting; Timeout plus
	// 5s when zero.
	ThreadLease time.Duration
	// ThreadWait bounds how long an alert waits for another replica's
	// first message; DefaultThreadWait when zero.
	ThreadWait time.Duration
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ThreadTTL <= 0 {
		c.ThreadTTL = DefaultThreadTTL
	}
	if c.MaxThreads <= 0 {
		c.MaxThreads = DefaultMaxThreads
	}
	if c.ThreadLease <= 0 {
		c.ThreadLease = c.Timeout + 5*time.Second
	}
	if c.ThreadWait <= 0 {
		c.ThreadWait = DefaultThreadWait
	}
	return c
}

// Validate reports a configuration that cannot work. Its errors never
// contain the token or the webhook URL.
func (c Config) Validate() error {
	bot := c.BotToken != "" || c.Channel != ""
	if !bot && c.WebhookURL == "" {
		return errors.New("slack: set a bot token and channel, a webhook URL, or both")
	}
	if bot && c.BotToken == "" {
		return errors.New("slack: channel is set but the bot token is empty")
	}
	if bot && c.Channel == "" {
		return errors.New("slack: bot token is set but the channel is empty")
	}
	if c.WebhookURL != "" {
		if err := notify.CheckSecretURL(c.WebhookURL); err != nil {
			return fmt.Errorf("slack: webhook URL: %w", err)
		}
	}
	if c.APIURL != "" {
		if err := notify.CheckSecretURL(c.APIURL); err != nil {
			return fmt.Errorf("slack: API URL: %w", err)
		}
	}
	if c.ConsoleURL != "" {
		if err := notify.CheckURL(c.ConsoleURL); err != nil {
			return fmt.Errorf("slack: console URL: %w", err)
		}
	}
	return nil
}

// maskToken keeps a Slack token's type prefix ("xoxb") and hides the rest.
func maskToken(t string) string {
	if t == "" {
		return ""
	}
	if i := strings.IndexByte(t, '-'); i > 0 && i <= 5 {
		return t[:i] + "-REDACTED"
	}
	return "REDACTED"
}

// redacted is Config with its secrets masked, for printing.
type redacted struct {
	BotToken   string `json:"bot_token,omitempty"`
	Channel    string `json:"channel,omitempty"`
	WebhookURL string `json:"webhook_url,omitempty"`
	APIURL     string `json:"api_url,omitempty"`
	Timeout    string `json:"timeout,omitempty"`
	ConsoleURL string `json:"console_url,omitempty"`
	ThreadTTL  string `json:"thread_ttl,omitempty"`
	MaxThreads int    `json:"max_threads,omitempty"`
}

func (c Config) redacted() redacted {
	r := redacted{
		BotToken:   maskToken(c.BotToken),
		Channel:    c.Channel,
		WebhookURL: notify.MaskURL(c.WebhookURL),
		APIURL:     c.APIURL,
		ConsoleURL: c.ConsoleURL,
		MaxThreads: c.MaxThreads,
	}
	if c.Timeout != 0 {
		r.Timeout = c.Timeout.String()
	}
	if c.ThreadTTL != 0 {
		r.ThreadTTL = c.ThreadTTL.String()
	}
	return r
}

// String describes c with the bot token and webhook URL masked.
func (c Config) String() string {
	r := c.redacted()
	return fmt.Sprintf("slack.Config{BotToken:%q Channel:%q WebhookURL:%q APIURL:%q Timeout:%s ConsoleURL:%q ThreadTTL:%s MaxThreads:%d}",
		r.BotToken, r.Channel, r.WebhookURL, r.APIURL, c.Timeout, r.ConsoleURL, c.ThreadTTL, r.MaxThreads)
}

// GoString is String, so that %#v does not print the secrets either.
func (c Config) GoString() string { return c.String() }

// MarshalJSON encodes c with the bot token and webhook URL masked (what
// zap.Any and encoding/json print).
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.redacted()) }
