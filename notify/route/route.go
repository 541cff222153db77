// Package route decides which sinks receive a detection, and carries the
// optional account id to name mapping, from a YAML file (ROOTWATCH_ROUTES):
//
//	accounts:
//	  "111122223333": prod-payments
//	routes:
//	  - match: {levels: [critical, high]}
//	    sinks: [slack, pagerduty]
//	  - match: {rules: [root-console-login], accounts: ["111122223333"]}
//	    sinks: [pagerduty]
//	    continue: true
//	  - match: {levels: [medium, low, informational]}
//	    sinks: [slack]
//	default_sinks: [slack]
//
// Matching works like Alertmanager's routing tree, flattened to one level:
// routes are tried in file order and the first one that matches decides,
// unless it sets `continue: true`, in which case its sinks are kept and the
// search goes on with the next route. The result is the union of the sinks
// of every route matched up to and including the first matching route
// without `continue`. When no route matches, `default_sinks` applies; when
// the file has no `default_sinks` key, the built-in defaults apply (see
// below). `sinks: []` is allowed and means "no sink" (the audit sink still
// sees the detection; it is not routed).
//
// Within a match, every criterion given must hold (levels AND rules AND
// accounts); within a criterion, any listed value may match. An empty match
// (`match: {}` or no `match` key) matches every detection.
//
// Built-in defaults, used without a file or for a detection no route and no
// `default_sinks` covers: critical and high go to every paging sink and
// every chat sink; other levels go to the chat sinks only. With only Slack
// configured, everything goes to Slack; with only paging sinks configured,
// medium and lower levels reach no routed sink (only the audit sink), so
// nobody is paged at night for an informational finding.
//
// Parsing is two-phase: Parse checks the file on its own (syntax, unknown
// keys, levels, account ids) and Compile checks it against the configured
// sinks and, optionally, the loaded rule names. Every error names the file
// and line.
package route

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rootwatch/rootwatch/detector"
)

// MaxFileBytes bounds the size of a routes file.
const MaxFileBytes = 1 << 20

// ErrInvalid is wrapped by every validation error from Parse and Compile.
var ErrInvalid = errors.New("invalid routes")

var accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)

// Config is a parsed, self-consistent routes file, not yet checked against
// the configured sinks. The zero value (and nil) stand for "no file".
type Config struct {
	file         string
	accounts     map[string]string
	routes       []rawRoute
	defaultSinks []pos // nil: no default_sinks key
	hasDefault   bool
	exclusions   []rawExclusion // see exclude.go
}

type pos struct {
	val  string
	line int
}

type rawRoute struct {
	line     int
	levels   []detector.Level
	rules    []pos
	accounts []pos
	sinks    []pos
	cont     bool
}

// Load reads and parses the routes file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("routes: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses a routes file; name is used in error messages. An empty
// document is a valid file that sets nothing.
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrInvalid, name, MaxFileBytes)
	}
	c := &Config{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
		}
		return nil, c.errf(line, "only one YAML document is allowed")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return c, nil
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return c, nil
	}
	if err := c.parseTop(root); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) errf(line int, format string, args ...any) error {
	return fmt.Errorf("%w: %s:%d: %s", ErrInvalid, c.file, line, fmt.Sprintf(format, args...))
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// mapping checks n is a mapping and returns its key/value pairs, rejecting
// duplicate keys and keys not in allowed.
func (c *Config) mapping(n *yaml.Node, what string, allowed ...string) ([][2]*yaml.Node, error) {
	if err := c.plain(n); err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, c.errf(n.Line, "%s must be a mapping", what)
	}
	seen := map[string]bool{}
	var kv [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := c.plain(k); err != nil {
			return nil, err
		}
		if err := c.plain(v); err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode {
			return nil, c.errf(k.Line, "%s: keys must be strings", what)
		}
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return nil, c.errf(k.Line, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
		}
		if seen[k.Value] {
			return nil, c.errf(k.Line, "%s: duplicate key %q", what, k.Value)
		}
		seen[k.Value] = true
		kv = append(kv, [2]*yaml.Node{k, v})
	}
	return kv, nil
}

// plain rejects aliases, anchors and merge keys: they make a routes file
// harder to read and are a vector for expansion bombs.
func (c *Config) plain(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return c.errf(n.Line, "YAML anchors and aliases are not supported")
	}
	if n.Tag == "!!merge" {
		return c.errf(n.Line, "YAML merge keys are not supported")
	}
	return nil
}

func (c *Config) scalar(n *yaml.Node, what string) (pos, error) {
	if err := c.plain(n); err != nil {
		return pos{}, err
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return pos{}, c.errf(n.Line, "%s must be a string", what)
	}
	if strings.TrimSpace(n.Value) == "" {
		return pos{}, c.errf(n.Line, "%s must not be empty", what)
	}
	return pos{val: n.Value, line: n.Line}, nil
}

// list parses a sequence of non-empty strings. A null value is an empty
// list.
func (c *Config) list(n *yaml.Node, what string) ([]pos, error) {
	if err := c.plain(n); err != nil {
		return nil, err
	}
	if isNull(n) {
		return []pos{}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, c.errf(n.Line, "%s must be a list", what)
	}
	out := make([]pos, 0, len(n.Content))
	for _, e := range n.Content {
		p, err := c.scalar(e, what+" entry")
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *Config) parseTop(root *yaml.Node) error {
	kv, err := c.mapping(root, "routes file", "accounts", "routes", "default_sinks", "exclusions")
	if err != nil {
		return err
	}
	for _, p := range kv {
		k, v := p[0], p[1]
		switch k.Value {
		case "accounts":
			if err := c.parseAccounts(v); err != nil {
				return err
			}
		case "routes":
			if err := c.plain(v); err != nil {
				return err
			}
			if isNull(v) {
				continue
			}
			if v.Kind != yaml.SequenceNode {
				return c.errf(v.Line, "routes must be a list")
			}
			for i, rn := range v.Content {
				r, err := c.parseRoute(i, rn)
				if err != nil {
					return err
				}
				c.routes = append(c.routes, r)
			}
		case "exclusions":
			if err := c.parseExclusions(v); err != nil {
				return err
			}
		case "default_sinks":
			ds, err := c.list(v, "default_sinks")
			if err != nil {
				return err
			}
			c.defaultSinks, c.hasDefault = ds, true
		}
	}
	return nil
}

func (c *Config) parseAccounts(n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	kv, err := c.mapping(n, "accounts")
	if err != nil {
		return err
	}
	c.accounts = make(map[string]string, len(kv))
	for _, p := range kv {
		id, err := c.scalar(p[0], "account id")
		if err != nil {
			return err
		}
		if !accountIDRe.MatchString(id.val) {
			return c.errf(id.line, "account id %q is not 12 digits (quote ids with leading zeros)", id.val)
		}
		name, err := c.scalar(p[1], "account name")
		if err != nil {
			return err
		}
		c.accounts[id.val] = name.val
	}
	return nil
}

func (c *Config) parseRoute(i int, n *yaml.Node) (rawRoute, error) {
	what := fmt.Sprintf("route %d", i+1)
	r := rawRoute{line: n.Line}
	kv, err := c.mapping(n, what, "match", "sinks", "continue")
	if err != nil {
		return r, err
	}
	hasSinks := false
	for _, p := range kv {
		k, v := p[0], p[1]
		switch k.Value {
		case "match":
			if err := c.parseMatch(what, v, &r); err != nil {
				return r, err
			}
		case "sinks":
			if r.sinks, err = c.list(v, what+": sinks"); err != nil {
				return r, err
			}
			hasSinks = true
		case "continue":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				return r, c.errf(v.Line, "%s: continue must be true or false", what)
			}
			r.cont = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		}
	}
	if !hasSinks {
		return r, c.errf(r.line, "%s: sinks is required (use [] to route to no sink)", what)
	}
	return r, nil
}

func (c *Config) parseMatch(what string, n *yaml.Node, r *rawRoute) error {
	if isNull(n) {
		return nil
	}
	kv, err := c.mapping(n, what+": match", "levels", "rules", "accounts")
	if err != nil {
		return err
	}
	for _, p := range kv {
		k, v := p[0], p[1]
		vals, err := c.list(v, what+": match."+k.Value)
		if err != nil {
			return err
		}
		if len(vals) == 0 {
			return c.errf(v.Line, "%s: match.%s is empty; remove it to match everything", what, k.Value)
		}
		switch k.Value {
		case "levels":
			for _, lv := range vals {
				l, err := detector.ParseLevel(lv.val)
				if err != nil {
					return c.errf(lv.line, "%s: %v", what, err)
				}
				r.levels = append(r.levels, l)
			}
		case "rules":
			r.rules = vals
		case "accounts":
			for _, a := range vals {
				if !accountIDRe.MatchString(a.val) {
					return c.errf(a.line, "%s: account id %q is not 12 digits", what, a.val)
				}
			}
			r.accounts = vals
		}
	}
	return nil
}
