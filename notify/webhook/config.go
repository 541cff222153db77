package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/notify"
)

// Limits and defaults.
const (
	// DefaultTimeout bounds one POST.
	DefaultTimeout = 10 * time.Second
	// MinSecretLen is the shortest secret accepted: 32 characters
	// (`openssl rand -hex 32` makes 64).
	MinSecretLen = 32
	// MaxSecrets is how many secrets may sign at once (two while one is
	// rotated).
	MaxSecrets = 2
)

// Config configures the webhook sink.
//
// URL and Secrets are secrets (a URL may carry a token in its path or
// query): String, GoString and MarshalJSON mask them, and the sink never
// puts them in errors or logs.
type Config struct {
	// URL is where alerts are POSTed (ROOTWATCH_WEBHOOK_URL). It must be
	// https, except to a loopback address (http://127.0.0.1, localhost).
	URL string
	// Secrets key the HMAC-SHA256 signatures (ROOTWATCH_WEBHOOK_SECRET,
	// comma-separated): each delivery carries one v1 signature per secret,
	// so that during a rotation receivers holding either secret accept it.
	// One or two, each at least MinSecretLen characters.
	Secrets []string
	// Timeout bounds each POST; DefaultTimeout when zero.
	Timeout time.Duration
	// ConsoleURL overrides the AWS console base URL of event links, for
	// partitions other than aws.
	ConsoleURL string
}

// ParseSecrets splits the value of ROOTWATCH_WEBHOOK_SECRET: one secret,
// or two separated by a comma during a rotation. Spaces around each are
// ignored; empty items are dropped.
func ParseSecrets(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate reports a configuration that cannot work. Its errors never
// contain the URL or a secret.
func (c Config) Validate() error {
	if strings.TrimSpace(c.URL) == "" {
		return errors.New("webhook: URL is empty")
	}
	if err := notify.CheckSecretURL(c.URL); err != nil {
		return fmt.Errorf("webhook: URL: %w", err)
	}
	if len(c.Secrets) == 0 {
		return errors.New("webhook: signing secret is empty")
	}
	if len(c.Secrets) > MaxSecrets {
		return fmt.Errorf("webhook: %d signing secrets, at most %d (the new and the old one during a rotation)", len(c.Secrets), MaxSecrets)
	}
	for i, s := range c.Secrets {
		if len(s) < MinSecretLen {
			return fmt.Errorf("webhook: signing secret %d is %d characters, at least %d are needed (e.g. openssl rand -hex 32)", i+1, len(s), MinSecretLen)
		}
		if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("webhook: signing secret %d contains white space or control characters", i+1)
		}
	}
	if c.ConsoleURL != "" {
		if err := notify.CheckURL(c.ConsoleURL); err != nil {
			return fmt.Errorf("webhook: console URL: %w", err)
		}
	}
	return nil
}

// redacted is Config with the secrets masked, for printing.
type redacted struct {
	URL        string   `json:"url,omitempty"`
	Secrets    []string `json:"secrets,omitempty"`
	Timeout    string   `json:"timeout,omitempty"`
	ConsoleURL string   `json:"console_url,omitempty"`
}

func (c Config) redacted() redacted {
	r := redacted{URL: notify.MaskURL(c.URL), ConsoleURL: c.ConsoleURL}
	for _, s := range c.Secrets {
		r.Secrets = append(r.Secrets, notify.MaskSecret(s))
	}
	if c.Timeout != 0 {
		r.Timeout = c.Timeout.String()
	}
	return r
}

// String describes c with the URL and secrets masked.
func (c Config) String() string {
	r := c.redacted()
	return fmt.Sprintf("webhook.Config{URL:%q Secrets:%q Timeout:%s ConsoleURL:%q}", r.URL, r.Secrets, c.Timeout, r.ConsoleURL)
}

// GoString is String, so that %#v does not print the secrets either.
func (c Config) GoString() string { return c.String() }

// MarshalJSON encodes c with the URL and secrets masked.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.redacted()) }
