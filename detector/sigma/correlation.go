package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// CorrelationType is the type of a Sigma correlation rule.
type CorrelationType string

// The correlation types rootwatch evaluates (Sigma correlation rules
// specification 2.x). value_sum, value_avg and value_percentile fail to
// load.
const (
	// EventCount counts the distinct events of the referred rules per group.
	EventCount CorrelationType = "event_count"
	// ValueCount counts the distinct values of Correlation.Field per group.
	ValueCount CorrelationType = "value_count"
	// Temporal requires events of the referred rules (all of them, or
	// Correlation.Min of them) in one window, in any order.
	Temporal CorrelationType = "temporal"
	// TemporalOrdered is Temporal with the events in the order of
	// Correlation.Rules.
	TemporalOrdered CorrelationType = "temporal_ordered"
)

// maxTimespan bounds a correlation's window: state lives that long.
const maxTimespan = 7 * 24 * time.Hour

// Correlation is the correlation section of a Sigma correlation rule. The
// Rule that holds it has no Detection, Condition or Logsource; its Name,
// ID, Title and Level name and rank the correlation's alerts.
//
// Conditions: rootwatch evaluates a correlation as each event arrives, so
// it can decide lower bounds only (gt, gte): the moment a window holds
// enough events the alert is raised. Upper bounds (lt, lte), eq and neq
// can only be decided when a window closes and fail to load, saying so.
type Correlation struct {
	// Type is the correlation type.
	Type CorrelationType
	// Rules are the referred rules, by name or id, as written (order
	// matters for TemporalOrdered).
	Rules []string
	// GroupBy are the fields (or aliases) whose values must be equal for
	// events to correlate. Empty: all events form one group.
	GroupBy []string
	// Timespan is the window, by event time.
	Timespan time.Duration
	// TimespanText is the timespan as written ("15m").
	TimespanText string
	// Min is the smallest count that fires: the condition's gte, or its gt
	// plus one. For Temporal and TemporalOrdered without a condition it is
	// the number of rules.
	Min int
	// ConditionText renders the condition as written ("gte: 5").
	ConditionText string
	// Field is the field whose distinct values a ValueCount counts.
	Field string
	// Aliases maps an alias used in GroupBy to the field it stands for in
	// the events of each referred rule (alias -> rule name -> field).
	Aliases map[string]map[string]string
	// Generate is the correlation's generate attribute: whether the rules
	// it refers to also alert on their own. See Rule.Hidden.
	Generate bool
	// Line is the line of the correlation key.
	Line int
	// RulesLine is the line of the rules key (for errors about references).
	RulesLine int
}

// ParseAll parses a rule file that may hold several YAML documents
// separated by "---" (a Sigma rule collection, as used by correlation
// rules and the rules they refer to). Each document is one Rule; a
// document without a name field is named after the file, with "-2", "-3",
// ... for the second, third, ... document. Errors are *Error values naming
// the file, the line in the file and the construct.
//
// A rule that a correlation of the same file refers to is Hidden when
// every such correlation has generate false (the specification's
// default). Rules in other files are never hidden by a correlation.
func ParseAll(file string, data []byte, opts Options) ([]*Rule, error) {
	if len(data) > maxRuleBytes {
		return nil, (&parser{file: file}).errf(0, "rule file is larger than %d bytes", maxRuleBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Rule
	for i := 0; ; i++ {
		p := &parser{file: file, opts: opts}
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, p.yamlErr(err)
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
			return nil, p.errf(doc.Line, "empty rule document")
		}
		if err := p.checkAliases(doc.Content[0], 0); err != nil {
			return nil, err
		}
		if i > 0 {
			p.docSuffix = "-" + strconv.Itoa(i+1)
		}
		r, err := p.rule(doc.Content[0])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, (&parser{file: file}).errf(0, "empty rule file")
	}
	markHidden(out)
	return out, nil
}

// markHidden sets Hidden on the rules of one file that only correlations
// with generate false refer to.
func markHidden(rs []*Rule) {
	shown := map[*Rule]bool{}
	for _, c := range rs {
		if c.Correlation == nil {
			continue
		}
		for _, ref := range c.Correlation.Rules {
			for _, r := range rs {
				if r.Correlation == nil && (r.Name == ref || (r.ID != "" && r.ID == ref)) {
					if _, seen := shown[r]; !seen || c.Correlation.Generate {
						shown[r] = c.Correlation.Generate
					}
				}
			}
		}
	}
	for r, s := range shown {
		r.Hidden = !s
	}
}

var timespanRE = regexp.MustCompile(`^([1-9][0-9]{0,6})([smhd])$`)

// ParseTimespan parses a Sigma timespan: a positive number and one of the
// lowercase units s, m, h, d ("15m", "24h").
func ParseTimespan(s string) (time.Duration, error) {
	m := timespanRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("timespan %q: want a number and a unit s, m, h or d (e.g. 15m)", s)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	d := time.Duration(n) * unit
	if d > maxTimespan {
		return 0, fmt.Errorf("timespan %q is longer than %s (state is kept for a whole timespan)", s, maxTimespan)
	}
	return d, nil
}

// correlation parses a correlation rule's correlation section into r.
func (p *parser) correlation(r *Rule, n *yaml.Node, generate *yaml.Node) error {
	entries, err := p.mapEntries(n, "correlation")
	if err != nil {
		return err
	}
	c := &Correlation{Line: n.Line}
	var condNode, typeNode, spanNode, rulesNode, groupNode *yaml.Node
	for _, e := range entries {
		k, v := e[0], e[1]
		switch k.Value {
		case "type":
			typeNode = v
		case "rules":
			rulesNode = v
			c.RulesLine = k.Line
			c.Rules, err = p.strList(k, v)
		case "group-by":
			groupNode = v
			c.GroupBy, err = p.strList(k, v)
		case "timespan", "timeframe":
			spanNode = v
		case "condition":
			condNode = v
		case "aliases":
			err = p.correlationAliases(c, v)
		case "generate":
			if generate != nil {
				return p.errf(k.Line, "generate given both at the top level (line %d) and in correlation", generate.Line)
			}
			generate = v
		default:
			return p.errf(k.Line, "unsupported: correlation key %q (want type, rules, group-by, timespan, condition, aliases or generate)", k.Value)
		}
		if err != nil {
			return err
		}
	}
	if typeNode == nil {
		return p.errf(n.Line, "correlation: missing required field \"type\"")
	}
	c.Type = CorrelationType(typeNode.Value)
	switch c.Type {
	case EventCount, ValueCount, Temporal, TemporalOrdered:
	case "value_sum", "value_avg", "value_percentile":
		return p.errf(typeNode.Line, "unsupported: correlation type %q (rootwatch evaluates event_count, value_count, temporal and temporal_ordered)", c.Type)
	default:
		return p.errf(typeNode.Line, "unknown correlation type %q (want event_count, value_count, temporal or temporal_ordered)", typeNode.Value)
	}
	if rulesNode == nil || len(c.Rules) == 0 {
		return p.errf(n.Line, "correlation: missing required field \"rules\"")
	}
	for i, ref := range c.Rules {
		if strings.TrimSpace(ref) == "" {
			return p.errf(rulesNode.Line, "correlation.rules: empty rule reference")
		}
		if slices.Contains(c.Rules[:i], ref) {
			return p.errf(rulesNode.Line, "correlation.rules: %q listed twice", ref)
		}
	}
	if groupNode == nil {
		return p.errf(n.Line, "correlation: missing required field \"group-by\"")
	}
	for _, g := range c.GroupBy {
		if g == "" || strings.Contains(g, "..") || strings.HasPrefix(g, ".") || strings.HasSuffix(g, ".") {
			return p.errf(groupNode.Line, "correlation.group-by: invalid field name %q", g)
		}
	}
	if spanNode == nil {
		return p.errf(n.Line, "correlation: missing required field \"timespan\"")
	}
	c.TimespanText = spanNode.Value
	if c.Timespan, err = ParseTimespan(spanNode.Value); err != nil || spanNode.Kind != yaml.ScalarNode {
		return &Error{File: p.file, Line: spanNode.Line, Msg: "correlation.timespan", Err: err}
	}
	if err := p.correlationCondition(c, condNode); err != nil {
		return err
	}
	for alias, byRule := range c.Aliases {
		for rule := range byRule {
			if !slices.Contains(c.Rules, rule) {
				return p.errf(n.Line, "correlation.aliases.%s: rule %q is not in correlation.rules", alias, rule)
			}
		}
	}
	if generate != nil {
		if generate.Kind != yaml.ScalarNode || generate.Tag != "!!bool" {
			return p.errf(generate.Line, "generate must be true or false, not %q", generate.Value)
		}
		c.Generate = generate.Value == "true"
	}
	r.Correlation = c
	return nil
}

func (p *parser) correlationAliases(c *Correlation, n *yaml.Node) error {
	entries, err := p.mapEntries(n, "correlation.aliases")
	if err != nil {
		return err
	}
	c.Aliases = make(map[string]map[string]string, len(entries))
	for _, e := range entries {
		inner, err := p.mapEntries(e[1], "correlation.aliases."+e[0].Value)
		if err != nil {
			return err
		}
		m := make(map[string]string, len(inner))
		for _, ie := range inner {
			f, err := p.str(ie[0], ie[1])
			if err != nil {
				return err
			}
			if f == "" {
				return p.errf(ie[1].Line, "correlation.aliases.%s.%s: empty field name", e[0].Value, ie[0].Value)
			}
			m[ie[0].Value] = f
		}
		c.Aliases[e[0].Value] = m
	}
	return nil
}

// correlationCondition parses condition: {gt|gte: N[, field: F]}.
func (p *parser) correlationCondition(c *Correlation, n *yaml.Node) error {
	temporal := c.Type == Temporal || c.Type == TemporalOrdered
	if n == nil {
		if !temporal {
			return p.errf(c.Line, "correlation: missing required field \"condition\" (type %s)", c.Type)
		}
		c.Min = len(c.Rules)
		return nil
	}
	entries, err := p.mapEntries(n, "correlation.condition")
	if err != nil {
		return err
	}
	var parts []string
	for _, e := range entries {
		k, v := e[0], e[1]
		switch k.Value {
		case "field":
			if c.Type != ValueCount {
				return p.errf(k.Line, "correlation.condition.field is only valid for value_count")
			}
			if c.Field, err = p.str(k, v); err != nil {
				return err
			}
			continue
		case "gt", "gte":
			if c.Min != 0 {
				return p.errf(k.Line, "correlation.condition: give one of gt and gte")
			}
			num, err := strconv.Atoi(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode || v.Tag != "!!int" || num < 0 || num > 1_000_000 {
				return p.errf(v.Line, "correlation.condition.%s must be an integer from 0 to 1000000, not %q", k.Value, v.Value)
			}
			c.Min = num
			if k.Value == "gt" {
				c.Min++
			}
			if c.Min == 0 {
				c.Min = 1 // gte 0 fires on any event, like gte 1
			}
			parts = append(parts, k.Value+": "+v.Value)
		case "lt", "lte", "eq", "neq":
			return p.errf(k.Line, "unsupported: correlation condition %q (rootwatch evaluates correlations as events arrive, so only lower bounds gt and gte can be decided; %s needs the window to close)", k.Value, k.Value)
		default:
			return p.errf(k.Line, "unknown correlation condition %q (want gt or gte, and field for value_count)", k.Value)
		}
	}
	if c.Min == 0 {
		return p.errf(n.Line, "correlation.condition needs gt or gte")
	}
	if c.Type == ValueCount && c.Field == "" {
		return p.errf(n.Line, "correlation.condition.field is required for value_count")
	}
	if c.Type == TemporalOrdered && c.Min < len(c.Rules) {
		return p.errf(n.Line, "unsupported: correlation.condition %s on temporal_ordered (rootwatch requires every rule, in order; leave condition out)", strings.Join(parts, ", "))
	}
	if temporal && c.Min > len(c.Rules) {
		return p.errf(n.Line, "correlation.condition %s: a %s correlation of %d rules counts at most %d distinct rules", strings.Join(parts, ", "), c.Type, len(c.Rules), len(c.Rules))
	}
	c.ConditionText = strings.Join(parts, ", ")
	return nil
}

// aggregationRE matches SigmaHQ's deprecated aggregation expression after
// the "|": count() or count(field), an optional "by" field, a comparison
// and a number.
var aggregationRE = regexp.MustCompile(`^\s*count\(\s*([A-Za-z0-9_.\-]*)\s*\)\s*(?:by\s+([A-Za-z0-9_.\-]+)\s*)?(>=|<=|>|<|==|=)\s*([0-9]+)\s*$`)

// aggregationError explains how to rewrite a deprecated aggregation
// condition ("sel | count() by x > 5", with the detection's timeframe) as
// a correlation rule, showing the rewrite.
func (p *parser) aggregationError(line int, cond, timeframe string, r *Rule) *Error {
	base, agg, _ := strings.Cut(cond, "|")
	m := aggregationRE.FindStringSubmatch(agg)
	msg := fmt.Sprintf("condition %q: unsupported: deprecated Sigma aggregation; rewrite it as a correlation rule", cond)
	if m == nil {
		return p.errf(line, "%s (this aggregation has no correlation equivalent rootwatch evaluates)", msg)
	}
	field, by, op, num := m[1], m[2], m[3], m[4]
	cmp := map[string]string{">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "eq", "==": "eq"}[op]
	typ := "event_count"
	if field != "" {
		typ = "value_count"
	}
	span := timeframe
	if span == "" {
		span = "<timespan, e.g. 1h>"
	}
	name := r.Name
	if name == "" {
		b := filepath.Base(p.file)
		name = strings.TrimSuffix(b, filepath.Ext(b))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: in this file, set \"condition: %s\" and remove timeframe, then add this document after it:\n---\n", msg, strings.TrimSpace(base))
	fmt.Fprintf(&sb, "title: %s (count)\nname: %s-count\ncorrelation:\n  type: %s\n  rules:\n    - %s\n", r.Title, name, typ, name)
	if by != "" {
		fmt.Fprintf(&sb, "  group-by:\n    - %s\n", by)
	} else {
		sb.WriteString("  group-by: []\n")
	}
	fmt.Fprintf(&sb, "  timespan: %s\n  condition:\n    %s: %s\n", span, cmp, num)
	if field != "" {
		fmt.Fprintf(&sb, "    field: %s\n", field)
	}
	if r.Level != 0 {
		fmt.Fprintf(&sb, "level: %s\n", r.Level)
	}
	if cmp != "gt" && cmp != "gte" {
		sb.WriteString("(rootwatch evaluates gt and gte only)")
	}
	return p.errf(line, "%s", strings.TrimRight(sb.String(), "\n"))
}
