package route

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rootwatch/rootwatch/detector"
)

// Sinks lists the configured sinks by kind, by name. The kinds only matter
// for the built-in defaults; a routes file may send anything anywhere.
type Sinks struct {
	// Paging sinks wake someone up (PagerDuty).
	Paging []string
	// Chat sinks post to a channel (Slack).
	Chat []string
}

func (s Sinks) all() []string {
	out := make([]string, 0, len(s.Paging)+len(s.Chat))
	for _, n := range slices.Concat(s.Paging, s.Chat) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Options is what Compile checks a Config against.
type Options struct {
	// Sinks are the configured sinks. A route naming any other sink is an
	// error.
	Sinks Sinks
	// Rules, when non-nil, are the loaded rule names; a route naming any
	// other rule is an error (it would silently never match).
	Rules []string
	// PageMinLevel is the lowest level the built-in defaults send to the
	// paging sinks (zero: high). It does not affect routes from a file.
	PageMinLevel detector.Level
	// Accounts are account names from elsewhere (an environment variable,
	// see ParseAccounts); the file's accounts take precedence.
	Accounts map[string]string
}

// Router maps a detection to sink names. It is immutable and safe for
// concurrent use.
type Router struct {
	accounts   map[string]string
	routes     []route
	defaults   []string // nil: built-in defaults
	pageMin    detector.Level
	high, rest []string // built-in defaults: at or above pageMin, below
	exclusions []Exclusion
}

type route struct {
	levels   []detector.Level
	rules    []string
	accounts []string
	sinks    []string
	cont     bool
}

// Default returns the router used without a routes file, with the
// built-in defaults for s.
func Default(s Sinks) *Router {
	r, _ := (*Config)(nil).Compile(Options{Sinks: s}) // cannot fail without a file or a page level
	return r
}

// ParseAccounts parses account names given as
// "111122223333=prod-payments,444455556666=sandbox" (the environment's
// form of the file's accounts mapping). Spaces around items are ignored;
// an empty string is an empty mapping.
func ParseAccounts(s string) (map[string]string, error) {
	out := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, name, ok := strings.Cut(item, "=")
		id, name = strings.TrimSpace(id), strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: account mapping %q: want id=name", ErrInvalid, item)
		}
		if !accountIDRe.MatchString(id) {
			return nil, fmt.Errorf("%w: account id %q is not 12 digits", ErrInvalid, id)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%w: account %s named twice", ErrInvalid, id)
		}
		out[id] = name
	}
	return out, nil
}

// Compile checks c against opts and returns its Router. A nil Config
// compiles to the built-in defaults.
func (c *Config) Compile(opts Options) (*Router, error) {
	known := opts.Sinks.all()
	r := &Router{
		accounts: make(map[string]string, len(opts.Accounts)),
		pageMin:  opts.PageMinLevel,
		high:     opts.Sinks.all(),
		rest:     slices.Clone(opts.Sinks.Chat),
	}
	if r.pageMin == detector.LevelUnknown {
		r.pageMin = detector.LevelHigh
	}
	if r.pageMin < detector.LevelInformational || r.pageMin > detector.LevelCritical {
		return nil, fmt.Errorf("%w: page level %s", ErrInvalid, r.pageMin)
	}
	for id, name := range opts.Accounts {
		r.accounts[id] = name
	}
	if c == nil {
		return r, nil
	}
	checkSinks := func(ps []pos, what string) ([]string, error) {
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			if !slices.Contains(known, p.val) {
				k := "none"
				if len(known) > 0 {
					k = strings.Join(known, ", ")
				}
				return nil, c.errf(p.line, "%s: sink %q is not configured (configured: %s)", what, p.val, k)
			}
			if !slices.Contains(out, p.val) {
				out = append(out, p.val)
			}
		}
		return out, nil
	}
	for id, name := range c.accounts {
		r.accounts[id] = name
	}
	for i, rr := range c.routes {
		what := fmt.Sprintf("route %d", i+1)
		sinks, err := checkSinks(rr.sinks, what)
		if err != nil {
			return nil, err
		}
		nr := route{levels: rr.levels, sinks: sinks, cont: rr.cont}
		for _, p := range rr.rules {
			if opts.Rules != nil && !slices.Contains(opts.Rules, p.val) {
				return nil, c.errf(p.line, "%s: unknown rule %q", what, p.val)
			}
			nr.rules = append(nr.rules, p.val)
		}
		for _, p := range rr.accounts {
			nr.accounts = append(nr.accounts, p.val)
		}
		r.routes = append(r.routes, nr)
	}
	exclusions, err := c.compileExclusions(opts.Rules)
	if err != nil {
		return nil, err
	}
	r.exclusions = exclusions
	if c.hasDefault {
		ds, err := checkSinks(c.defaultSinks, "default_sinks")
		if err != nil {
			return nil, err
		}
		r.defaults = ds
	}
	return r, nil
}

func (rt *route) matches(d *detector.Detection) bool {
	if rt.levels != nil && !slices.Contains(rt.levels, d.Level) {
		return false
	}
	if rt.rules != nil && !slices.Contains(rt.rules, d.Rule) {
		return false
	}
	if rt.accounts != nil && !slices.Contains(rt.accounts, d.AccountID) {
		return false
	}
	return true
}

// Route returns the names of the sinks d goes to, each once, in route
// order. The result may be empty; callers must not modify it.
func (r *Router) Route(d *detector.Detection) []string {
	var out []string
	matched := false
	for i := range r.routes {
		rt := &r.routes[i]
		if !rt.matches(d) {
			continue
		}
		matched = true
		if out == nil && !rt.cont {
			return rt.sinks
		}
		for _, s := range rt.sinks {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		if !rt.cont {
			return out
		}
	}
	if matched {
		if out == nil {
			out = []string{}
		}
		return out
	}
	if r.defaults != nil {
		return r.defaults
	}
	if d.Level >= r.pageMin {
		return r.high
	}
	return r.rest
}

// AccountName returns the configured name of an account id, or "".
func (r *Router) AccountName(id string) string {
	return r.accounts[id]
}
