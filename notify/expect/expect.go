// Package expect holds declarations of planned root use, "expectations":
// a team says that root will be used in an account for a while (closing
// the account, changing the support plan, a break-glass drill), optionally
// only for some rules or from some source networks. Alerts matching a
// declaration still go to chat, marked expected, but do not page (the
// dispatcher decides that; see notify.Policy).
//
// Declarations live in a Store: in memory (tests), in a YAML file
// (ROOTWATCH_EXPECTATIONS, reloaded when it changes) or in the shared
// DynamoDB table (items "expect#ID"), which several replicas read. A
// Matcher keeps a recently loaded copy and matches detections against it,
// logging and counting every declaration, end and use it sees.
//
// expect imports detector only: it knows nothing of sinks or routing.
package expect

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/rootwatch/rootwatch/detector"
)

// Limits on a declaration.
const (
	// MaxDuration is the longest a declaration may last: planned work is
	// hours, not weeks, and a forgotten declaration must not mute paging
	// for long.
	MaxDuration = 7 * 24 * time.Hour
	// MaxTextLen bounds Reason and By.
	MaxTextLen = 200
	// MaxListLen bounds Rules and SourceCIDRs.
	MaxListLen = 50
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid expectation")

// ErrNotFound is returned by Store.End for an unknown id.
var ErrNotFound = errors.New("no such expectation")

// ErrExists is returned by Store.Add for an id already stored.
var ErrExists = errors.New("expectation id already exists")

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	idRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	ruleRE    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
)

// Expectation is one declaration of planned root use.
type Expectation struct {
	// ID identifies the declaration ("e-20261120-3f9a1c0b").
	ID string
	// Account is the AWS account id the root use is planned in.
	Account string
	// Rules, when not empty, limits the declaration to detections of these
	// rules; empty means every rule.
	Rules []string
	// SourceCIDRs, when not empty, limits the declaration to detections
	// whose source IP is in one of these networks.
	SourceCIDRs []netip.Prefix
	// Reason says why (a ticket: "SEC-123 close sandbox"); shown in alerts.
	Reason string
	// By is who declared it (a user name or a caller ARN).
	By string
	// Start is when the declaration was made: it never covers earlier
	// events.
	Start time.Time
	// Ends is when it stops covering events (earlier than planned when it
	// was ended with End).
	Ends time.Time
	// EndedBy is who ended it early, if anyone.
	EndedBy string
}

// Validate checks every field; errors wrap ErrInvalid.
func (e *Expectation) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	switch {
	case !idRE.MatchString(e.ID):
		return bad("id %q: want lower-case letters, digits and dashes (at most 64)", e.ID)
	case !accountRE.MatchString(e.Account):
		return bad("account %q is not 12 digits", e.Account)
	case e.Start.IsZero() || e.Ends.IsZero():
		return bad("start and end times are required")
	case e.Ends.Before(e.Start):
		return bad("ends (%s) before it starts (%s)", e.Ends.UTC().Format(time.RFC3339), e.Start.UTC().Format(time.RFC3339))
	case e.Ends.Sub(e.Start) > MaxDuration:
		return bad("lasts %s, longer than the maximum %s", e.Ends.Sub(e.Start), MaxDuration)
	case len(e.Rules) > MaxListLen || len(e.SourceCIDRs) > MaxListLen:
		return bad("more than %d rules or source CIDRs", MaxListLen)
	}
	if err := checkText("reason", e.Reason, true); err != nil {
		return err
	}
	if err := checkText("by", e.By, true); err != nil {
		return err
	}
	if err := checkText("ended by", e.EndedBy, false); err != nil {
		return err
	}
	for _, r := range e.Rules {
		if !ruleRE.MatchString(r) {
			return bad("rule %q: want letters, digits, '.', '_' and '-'", r)
		}
	}
	for _, p := range e.SourceCIDRs {
		if !p.IsValid() {
			return bad("invalid source CIDR")
		}
	}
	return nil
}

// checkText rejects empty (when required), overlong and control-character
// text: it ends up in logs and in Slack.
func checkText(what, s string, required bool) error {
	if strings.TrimSpace(s) == "" {
		if required {
			return fmt.Errorf("%w: %s is required", ErrInvalid, what)
		}
		return nil
	}
	if len(s) > MaxTextLen {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, MaxTextLen)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%w: %s contains control characters", ErrInvalid, what)
	}
	return nil
}

// ParseCIDR parses a source network: a CIDR ("203.0.113.0/24") or a bare
// address (a /32 or /128). The prefix is masked.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: source CIDR %q is neither a CIDR nor an IP address", ErrInvalid, s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// Covers reports whether the declaration is about d (its account, one of
// its rules, one of its networks), whatever the time.
func (e *Expectation) Covers(d *detector.Detection) bool {
	if d.AccountID != e.Account {
		return false
	}
	if len(e.Rules) > 0 && !slices.Contains(e.Rules, d.Rule) {
		return false
	}
	return len(e.SourceCIDRs) == 0 || d.SourceIn(e.SourceCIDRs)
}

// ActiveAt reports whether t falls in [Start, Ends).
func (e *Expectation) ActiveAt(t time.Time) bool {
	return !t.Before(e.Start) && t.Before(e.Ends)
}

// Find returns the declaration that covers d at its event time (now when
// the event time is unknown): among the active ones, the one ending last.
// When none is active but one covering d had ended by then, ended is it
// (the caller warns: the alert goes out as usual). Declarations made
// after the event never cover it.
func Find(list []Expectation, d *detector.Detection, now time.Time) (match, ended *Expectation) {
	t := d.EventTime
	if t.IsZero() {
		t = now
	}
	for i := range list {
		e := &list[i]
		if !e.Covers(d) {
			continue
		}
		switch {
		case e.ActiveAt(t):
			if match == nil || e.Ends.After(match.Ends) {
				match = e
			}
		case !t.Before(e.Ends):
			if ended == nil || e.Ends.After(ended.Ends) {
				ended = e
			}
		}
	}
	if match != nil {
		ended = nil
	}
	return match, ended
}

// String is the form alerts show: "SEC-123 close sandbox (declared by
// alice, ends at 2026-11-20T11:00:00Z)".
func (e *Expectation) String() string {
	return fmt.Sprintf("%s (declared by %s, ends at %s)", e.Reason, e.By, e.Ends.UTC().Format(time.RFC3339))
}

// Scope describes what the declaration covers, for listings: "all rules",
// or the rules, and the networks.
func (e *Expectation) Scope() string {
	s := "all rules"
	if len(e.Rules) > 0 {
		s = "rules " + strings.Join(e.Rules, ",")
	}
	if len(e.SourceCIDRs) > 0 {
		cs := make([]string, len(e.SourceCIDRs))
		for i, p := range e.SourceCIDRs {
			cs[i] = p.String()
		}
		s += " from " + strings.Join(cs, ",")
	}
	return s
}
