package route

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rootwatch/rootwatch/detector"
)

// MaxReasonLen bounds an exclusion's reason (it is a metric label).
const MaxReasonLen = 120

// Exclusion is one entry of the routes file's `exclusions:` list: a
// detection of one of Rules that matches every criterion given (any value
// of each) is known-good automation and is not delivered (the dispatcher
// logs and counts it). At least one of Principals, InvokedBy and
// SourceCIDRs is required, so that an exclusion never mutes a whole rule:
//
//	exclusions:
//	  - rules: [root-api-call]
//	    principals: ["arn:aws:iam::111122223333:root"]   # glob: * and ?
//	    invoked_by: [backup.amazonaws.com]
//	    source_cidrs: [10.20.0.0/16]
//	    accounts: ["111122223333"]                         # optional
//	    reason: nightly account inventory (OPS-42)         # required
//	    expires: 2026-12-31                                # optional: a date (through that day, UTC) or an RFC 3339 time
//
// An expired exclusion is ignored (the dispatcher warns).
type Exclusion struct {
	// File and Line locate the entry.
	File string
	Line int
	// Rules the exclusion applies to (required).
	Rules []string
	// Accounts, when given, limits it to these accounts.
	Accounts []string
	// Principals are glob patterns (`*` any run of characters, `?` one) on
	// the principal ARN (userIdentity.arn, else its type).
	Principals []string
	// InvokedBy are glob patterns on userIdentity.invokedBy.
	InvokedBy []string
	// SourceCIDRs are the source networks.
	SourceCIDRs []netip.Prefix
	// Reason says why the automation is known good (required).
	Reason string
	// Expires is when the exclusion stops applying; zero: never.
	Expires time.Time
}

// Where is "file:line" of the entry.
func (x *Exclusion) Where() string { return fmt.Sprintf("%s:%d", x.File, x.Line) }

// ExpiredAt reports whether the exclusion no longer applies at t.
func (x *Exclusion) ExpiredAt(t time.Time) bool { return !x.Expires.IsZero() && !t.Before(x.Expires) }

// Matches reports whether d is what the exclusion describes, whatever the
// time.
func (x *Exclusion) Matches(d *detector.Detection) bool {
	if !slices.Contains(x.Rules, d.Rule) {
		return false
	}
	if x.Accounts != nil && !slices.Contains(x.Accounts, d.AccountID) {
		return false
	}
	if x.Principals != nil && !slices.ContainsFunc(x.Principals, func(p string) bool { return glob(p, d.Principal) }) {
		return false
	}
	if x.InvokedBy != nil && !slices.ContainsFunc(x.InvokedBy, func(p string) bool { return glob(p, d.InvokedBy) }) {
		return false
	}
	return x.SourceCIDRs == nil || d.SourceIn(x.SourceCIDRs)
}

// Describe lists the criteria, for `rules list`.
func (x *Exclusion) Describe() string {
	var parts []string
	add := func(name string, vs []string) {
		if vs != nil {
			parts = append(parts, name+"="+strings.Join(vs, ","))
		}
	}
	add("accounts", x.Accounts)
	add("principals", x.Principals)
	add("invoked_by", x.InvokedBy)
	if x.SourceCIDRs != nil {
		cs := make([]string, len(x.SourceCIDRs))
		for i, p := range x.SourceCIDRs {
			cs[i] = p.String()
		}
		add("source_cidrs", cs)
	}
	return strings.Join(parts, " ")
}

// glob matches s against pattern, where `*` is any run of characters
// (slashes and colons included) and `?` one character; everything else is
// literal and case-sensitive. An empty s matches only patterns of stars.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	nextP, nextS := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextP, nextS = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextS > 0 && nextS <= len(s) {
			px, sx = nextP, nextS
			continue
		}
		return false
	}
	return true
}

// Exclude returns the first exclusion that matches d and applies at now,
// and, when none does, the first matching one that had expired (the
// caller warns that it was ignored).
func (r *Router) Exclude(d *detector.Detection, now time.Time) (active, expired *Exclusion) {
	for i := range r.exclusions {
		x := &r.exclusions[i]
		if !x.Matches(d) {
			continue
		}
		if !x.ExpiredAt(now) {
			return x, nil
		}
		if expired == nil {
			expired = x
		}
	}
	return nil, expired
}

// Exclusions returns every exclusion of the routes file, expired ones
// included, in file order. Callers must not modify it.
func (r *Router) Exclusions() []Exclusion { return r.exclusions }

func (c *Config) parseExclusions(n *yaml.Node) error {
	if err := c.plain(n); err != nil {
		return err
	}
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return c.errf(n.Line, "exclusions must be a list")
	}
	for i, en := range n.Content {
		x, err := c.parseExclusion(i, en)
		if err != nil {
			return err
		}
		c.exclusions = append(c.exclusions, x)
	}
	return nil
}

func (c *Config) parseExclusion(i int, n *yaml.Node) (rawExclusion, error) {
	what := fmt.Sprintf("exclusion %d", i+1)
	x := rawExclusion{Exclusion: Exclusion{File: c.file, Line: n.Line}}
	kv, err := c.mapping(n, what, "rules", "accounts", "principals", "invoked_by", "source_cidrs", "reason", "expires")
	if err != nil {
		return x, err
	}
	for _, p := range kv {
		k, v := p[0], p[1]
		switch k.Value {
		case "reason":
			r, err := c.scalar(v, what+": reason")
			if err != nil {
				return x, err
			}
			if len(r.val) > MaxReasonLen || strings.ContainsAny(r.val, "\n\r\t") {
				return x, c.errf(v.Line, "%s: reason must be one line of at most %d bytes", what, MaxReasonLen)
			}
			x.Reason = r.val
		case "expires":
			s, err := c.scalar(v, what+": expires")
			if err != nil {
				return x, err
			}
			if x.Expires, err = parseExpiry(s.val); err != nil {
				return x, c.errf(v.Line, "%s: expires %q: want a date (2026-12-31) or an RFC 3339 time", what, s.val)
			}
		default:
			vals, err := c.list(v, what+": "+k.Value)
			if err != nil {
				return x, err
			}
			if len(vals) == 0 {
				return x, c.errf(v.Line, "%s: %s is empty", what, k.Value)
			}
			out := make([]string, len(vals))
			for j, p := range vals {
				out[j] = p.val
			}
			switch k.Value {
			case "rules":
				x.rules = vals
				x.Rules = out
			case "accounts":
				for _, a := range vals {
					if !accountIDRe.MatchString(a.val) {
						return x, c.errf(a.line, "%s: account id %q is not 12 digits", what, a.val)
					}
				}
				x.Accounts = out
			case "principals":
				x.Principals = out
			case "invoked_by":
				x.InvokedBy = out
			case "source_cidrs":
				for _, p := range vals {
					pr, err := netip.ParsePrefix(p.val)
					if err != nil {
						return x, c.errf(p.line, "%s: source CIDR %q: %v (a single address is written 203.0.113.7/32)", what, p.val, err)
					}
					x.SourceCIDRs = append(x.SourceCIDRs, pr.Masked())
				}
			}
		}
	}
	switch {
	case x.Rules == nil:
		return x, c.errf(x.Line, "%s: rules is required (exclusions are per rule)", what)
	case x.Reason == "":
		return x, c.errf(x.Line, "%s: reason is required (say why this automation is known good)", what)
	case x.Principals == nil && x.InvokedBy == nil && x.SourceCIDRs == nil:
		return x, c.errf(x.Line, "%s: give principals, invoked_by or source_cidrs (to silence a whole rule, route it to sinks: [])", what)
	}
	return x, nil
}

// parseExpiry reads a date (the exclusion applies through that day, UTC)
// or an RFC 3339 time.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return time.Parse(time.RFC3339, s)
}

// rawExclusion is a parsed exclusion with the lines of its rule names, for
// Compile's unknown-rule check.
type rawExclusion struct {
	Exclusion
	rules []pos
}

// compileExclusions checks the rule names (when known) and returns the
// exclusions.
func (c *Config) compileExclusions(rules []string) ([]Exclusion, error) {
	out := make([]Exclusion, 0, len(c.exclusions))
	for i, x := range c.exclusions {
		for _, p := range x.rules {
			if rules != nil && !slices.Contains(rules, p.val) {
				return nil, c.errf(p.line, "exclusion %d: unknown rule %q", i+1, p.val)
			}
		}
		out = append(out, x.Exclusion)
	}
	return out, nil
}

// Exclusions checks the file's exclusions alone (without sinks; rule names
// when rules is not nil) and returns them: what `rules list` shows.
func (c *Config) Exclusions(rules []string) ([]Exclusion, error) {
	if c == nil {
		return nil, nil
	}
	return c.compileExclusions(rules)
}
