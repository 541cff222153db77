package pagerduty

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/notify"
)

// Endpoints and defaults.
const (
	// DefaultEventsURL is the Events API base URL (US service region).
	DefaultEventsURL = "https://events.pagerduty.com"
	// EUEventsURL is the Events API base URL of the EU service region.
	EUEventsURL = "https://events.eu.pagerduty.com"
	// DefaultTimeout bounds one HTTP call to the Events API.
	DefaultTimeout = 10 * time.Second
	// DefaultClientName is the monitoring client name shown on incidents.
	DefaultClientName = "rootwatch"
)

// Config configures the PagerDuty sink.
//
// RoutingKey is a secret: String, GoString and MarshalJSON mask it, and the
// sink never puts it in errors or logs.
type Config struct {
	// RoutingKey is the Events API v2 integration key of the service
	// (PAGERDUTY_ROUTING_KEY).
	RoutingKey string
	// EventsURL is the Events API base URL, without "/v2/enqueue"
	// (PAGERDUTY_EVENTS_URL); DefaultEventsURL when empty, EUEventsURL for EU
	// accounts. It must be https (plain http only to a loopback address):
	// the routing key is in every request.
	EventsURL string
	// Timeout bounds each HTTP call; DefaultTimeout when zero.
	Timeout time.Duration
	// ClientName names the monitoring client on incidents;
	// DefaultClientName when empty.
	ClientName string
	// ClientURL is the "view in client" link on incidents; the CloudTrail
	// console link of the event when empty.
	ClientURL string
	// ConsoleURL overrides the AWS console base URL of event links, for
	// partitions other than aws (e.g. "https://console.amazonaws-us-gov.com").
	// Empty means "https://<region>.console.aws.amazon.com".
	ConsoleURL string
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.EventsURL == "" {
		c.EventsURL = DefaultEventsURL
	}
	c.EventsURL = strings.TrimRight(c.EventsURL, "/")
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ClientName == "" {
		c.ClientName = DefaultClientName
	}
	return c
}

// Validate reports a configuration that cannot work. Its errors never
// contain the routing key.
func (c Config) Validate() error {
	if strings.TrimSpace(c.RoutingKey) == "" {
		return errors.New("pagerduty: routing key is empty")
	}
	if strings.ContainsAny(c.RoutingKey, " \t\r\n") {
		return errors.New("pagerduty: routing key contains white space")
	}
	for _, u := range []struct {
		name, v string
		check   func(string) error
	}{
		// The events URL is sent the routing key: https only (but loopback).
		{"events URL", c.EventsURL, notify.CheckSecretURL},
		{"client URL", c.ClientURL, notify.CheckURL},
		{"console URL", c.ConsoleURL, notify.CheckURL},
	} {
		if u.v == "" {
			continue
		}
		if err := u.check(u.v); err != nil {
			return fmt.Errorf("pagerduty: %s: %w", u.name, err)
		}
	}
	return nil
}

// redacted is Config with the routing key masked, for printing.
type redacted struct {
	RoutingKey string `json:"routing_key,omitempty"`
	EventsURL  string `json:"events_url,omitempty"`
	Timeout    string `json:"timeout,omitempty"`
	ClientName string `json:"client_name,omitempty"`
	ClientURL  string `json:"client_url,omitempty"`
	ConsoleURL string `json:"console_url,omitempty"`
}

func (c Config) redacted() redacted {
	r := redacted{
		RoutingKey: notify.MaskSecret(c.RoutingKey),
		EventsURL:  c.EventsURL,
		ClientName: c.ClientName,
		ClientURL:  c.ClientURL,
		ConsoleURL: c.ConsoleURL,
	}
	if c.Timeout != 0 {
		r.Timeout = c.Timeout.String()
	}
	return r
}

// String describes c with the routing key masked.
func (c Config) String() string {
	r := c.redacted()
	return fmt.Sprintf("pagerduty.Config{RoutingKey:%q EventsURL:%q Timeout:%s ClientName:%q ClientURL:%q ConsoleURL:%q}",
		r.RoutingKey, r.EventsURL, c.Timeout, r.ClientName, r.ClientURL, r.ConsoleURL)
}

// GoString is String, so that %#v does not print the routing key either.
func (c Config) GoString() string { return c.String() }

// MarshalJSON encodes c with the routing key masked (what zap.Any and
// encoding/json print).
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.redacted()) }
