package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/rootwatch/rootwatch/detector"
)

// maxRuleBytes bounds one rule file; real rules are a few KiB.
const maxRuleBytes = 1 << 20

// unsupportedModifiers are Sigma modifiers that rootwatch recognises but
// does not implement; they fail to load like unknown modifiers, with the
// reason.
var unsupportedModifiers = map[string]string{
	"windash":      "Windows command-line dash variants",
	"base64":       "base64 encoding of values",
	"base64offset": "base64 encoding of values",
	"utf16":        "UTF-16 encoding of values",
	"utf16le":      "UTF-16 encoding of values",
	"utf16be":      "UTF-16 encoding of values",
	"wide":         "UTF-16 encoding of values",
}

// Parse parses one Sigma rule (a file of one YAML document; see ParseAll
// for several). file names the rule in errors and becomes Rule.File; it is
// also the source of Rule.Name when the rule has no name field. Every
// error is an *Error naming file, line and construct. Parse defines no
// placeholders; see ParseWithOptions.
func Parse(file string, data []byte) (*Rule, error) {
	return ParseWithOptions(file, data, Options{})
}

// ParseWithOptions is Parse with options (placeholder values).
func ParseWithOptions(file string, data []byte, opts Options) (*Rule, error) {
	p := &parser{file: file, opts: opts}
	if len(data) > maxRuleBytes {
		return nil, p.errf(0, "rule file is larger than %d bytes", maxRuleBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errf(0, "empty rule file")
		}
		return nil, p.yamlErr(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, p.yamlErr(err)
	default:
		return nil, p.errf(extra.Line, "unsupported: multiple YAML documents in one file (rule collections)")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, p.errf(doc.Line, "empty rule document")
	}
	if err := p.checkAliases(doc.Content[0], 0); err != nil {
		return nil, err
	}
	return p.rule(doc.Content[0])
}

type parser struct {
	file string
	opts Options
	// docSuffix is appended to the name derived from the file name, for the
	// second and later documents of a file (ParseAll).
	docSuffix string

	undefined map[string]int  // undefined placeholder -> line of first use
	defined   map[string]bool // placeholders used that have values
}

func (p *parser) errf(line int, format string, args ...any) *Error {
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlErr turns a yaml.v3 error (which carries the line only in its text)
// into an *Error with that line.
func (p *parser) yamlErr(err error) *Error {
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return &Error{File: p.file, Line: line, Msg: "invalid YAML", Err: err}
}

// checkAliases rejects anchors' aliases (and merge keys, which need them)
// and absurd nesting, so that the rest of the parser walks a plain tree.
func (p *parser) checkAliases(n *yaml.Node, depth int) error {
	if depth > 64 {
		return p.errf(n.Line, "YAML nested too deeply")
	}
	if n.Kind == yaml.AliasNode {
		return p.errf(n.Line, "unsupported: YAML alias %q", "*"+n.Value)
	}
	for _, c := range n.Content {
		if err := p.checkAliases(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a scalar"
	}
	return "an unexpected YAML node"
}

// mapEntries returns the key/value pairs of a mapping node, rejecting
// non-string and duplicate keys.
func (p *parser) mapEntries(n *yaml.Node, what string) ([][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n.Line, "%s must be a map, not %s", what, kindName(n))
	}
	seen := make(map[string]int, len(n.Content)/2)
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k.Line, "%s: key must be a string, not %s", what, kindName(k))
		}
		if prev, dup := seen[k.Value]; dup {
			return nil, p.errf(k.Line, "%s: duplicate key %q (first on line %d)", what, k.Value, prev)
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, nil
}

func (p *parser) str(k, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", p.errf(v.Line, "field %q must be a string, not %s", k.Value, kindName(v))
	}
	if v.Tag == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

// strList accepts a list of scalars or a single scalar.
func (p *parser) strList(k, v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, nil
		}
		return []string{v.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, p.errf(e.Line, "field %q: list items must be strings, not %s", k.Value, kindName(e))
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, p.errf(v.Line, "field %q must be a list of strings, not %s", k.Value, kindName(v))
}

func (p *parser) rule(root *yaml.Node) (*Rule, error) {
	entries, err := p.mapEntries(root, "rule")
	if err != nil {
		return nil, err
	}
	r := &Rule{File: p.file, Line: root.Line}
	var levelNode, detectionNode, titleNode, escalateNode, corrNode, generateNode *yaml.Node
	for _, e := range entries {
		k, v := e[0], e[1]
		var err error
		switch k.Value {
		case "title":
			titleNode = v
			r.Title, err = p.str(k, v)
		case "id":
			r.ID, err = p.str(k, v)
		case "name":
			r.Name, err = p.str(k, v)
			if err == nil {
				err = p.checkName(v, r.Name)
			}
		case "description":
			r.Description, err = p.str(k, v)
		case "status":
			r.Status, err = p.str(k, v)
		case "author":
			r.Author, err = p.str(k, v)
		case "date":
			r.Date, err = p.str(k, v)
		case "modified":
			r.Modified, err = p.str(k, v)
		case "level":
			levelNode = v
		case "tags":
			r.Tags, err = p.strList(k, v)
		case "falsepositives":
			r.FalsePositives, err = p.strList(k, v)
		case "references":
			r.References, err = p.strList(k, v)
		case "fields":
			r.Fields, err = p.strList(k, v)
		case "logsource":
			r.Logsource, err = p.logsource(k, v)
		case "detection":
			detectionNode = v
		case "correlation":
			corrNode = v
		case "generate":
			generateNode = v
		case "action":
			err = p.errf(k.Line, "unsupported: rule collection action %q", v.Value)
		case "rootwatch":
			escalateNode, err = p.extension(r, v)
		default:
			// Sigma allows custom top-level fields (related, license, ...).
		}
		if err != nil {
			return nil, err
		}
	}
	if titleNode == nil || strings.TrimSpace(r.Title) == "" {
		return nil, p.errf(root.Line, "missing required field \"title\"")
	}
	if levelNode == nil {
		return nil, p.errf(root.Line, "missing required field \"level\"")
	}
	if levelNode.Kind != yaml.ScalarNode {
		return nil, p.errf(levelNode.Line, "level must be a string, not %s", kindName(levelNode))
	}
	if r.Level, err = detector.ParseLevel(levelNode.Value); err != nil {
		return nil, &Error{File: p.file, Line: levelNode.Line, Msg: "invalid level", Err: err}
	}
	if r.Name == "" {
		base := filepath.Base(p.file)
		r.Name = strings.TrimSuffix(base, filepath.Ext(base)) + p.docSuffix
		if err := p.checkName(root, r.Name); err != nil {
			return nil, p.errf(root.Line, "rule has no name field and its file name %q cannot be used as one", base)
		}
	}
	if corrNode != nil {
		switch {
		case detectionNode != nil:
			return nil, p.errf(detectionNode.Line, "a correlation rule has no detection (put the detection in a rule of its own and refer to it in correlation.rules)")
		case escalateNode != nil:
			return nil, p.errf(escalateNode.Line, "unsupported: rootwatch.escalate on a correlation rule")
		}
		r.DeclaredLevel = r.Level
		if err := p.correlation(r, corrNode, generateNode); err != nil {
			return nil, err
		}
		return r, nil
	}
	if generateNode != nil {
		return nil, p.errf(generateNode.Line, "generate is only valid in a correlation rule")
	}
	if detectionNode == nil {
		return nil, p.errf(root.Line, "missing required field \"detection\"")
	}
	if err := p.detection(r, detectionNode); err != nil {
		return nil, err
	}
	r.DeclaredLevel = r.Level
	if escalateNode != nil {
		if err := p.escalation(r, escalateNode); err != nil {
			return nil, err
		}
	}
	for name := range p.defined {
		r.Placeholders = append(r.Placeholders, name)
	}
	for name := range p.undefined {
		r.Placeholders = append(r.Placeholders, name)
	}
	sort.Strings(r.Placeholders)
	if err := p.resolvePlaceholders(r); err != nil {
		return nil, err
	}
	return r, nil
}

// extension parses the rootwatch extension map. It returns the escalate
// entry's node, parsed once the selections are known.
func (p *parser) extension(r *Rule, n *yaml.Node) (*yaml.Node, error) {
	entries, err := p.mapEntries(n, "rootwatch")
	if err != nil {
		return nil, err
	}
	var escalate *yaml.Node
	for _, e := range entries {
		k, v := e[0], e[1]
		switch k.Value {
		case "escalate":
			escalate = v
		case "unresolved_level":
			if v.Kind != yaml.ScalarNode {
				return nil, p.errf(v.Line, "rootwatch.unresolved_level must be a level, not %s", kindName(v))
			}
			if r.UnresolvedLevel, err = detector.ParseLevel(v.Value); err != nil {
				return nil, &Error{File: p.file, Line: v.Line, Msg: "rootwatch.unresolved_level", Err: err}
			}
		default:
			return nil, p.errf(k.Line, "rootwatch: unknown key %q (want escalate or unresolved_level)", k.Value)
		}
	}
	return escalate, nil
}

// escalation parses rootwatch.escalate: {level, condition[, reason]}.
func (p *parser) escalation(r *Rule, n *yaml.Node) error {
	entries, err := p.mapEntries(n, "rootwatch.escalate")
	if err != nil {
		return err
	}
	esc := &Escalation{Line: n.Line}
	var condNode *yaml.Node
	for _, e := range entries {
		k, v := e[0], e[1]
		switch k.Value {
		case "level":
			if v.Kind != yaml.ScalarNode {
				return p.errf(v.Line, "rootwatch.escalate.level must be a level, not %s", kindName(v))
			}
			if esc.Level, err = detector.ParseLevel(v.Value); err != nil {
				return &Error{File: p.file, Line: v.Line, Msg: "rootwatch.escalate.level", Err: err}
			}
		case "condition":
			condNode = v
		case "reason":
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return p.errf(v.Line, "rootwatch.escalate.reason must be a string, not %s", kindName(v))
			}
			if strings.TrimSpace(v.Value) == "" {
				return p.errf(v.Line, "rootwatch.escalate.reason is empty")
			}
			esc.Reason = strings.TrimSpace(v.Value)
		default:
			return p.errf(k.Line, "rootwatch.escalate: unknown key %q (want level, condition and reason)", k.Value)
		}
	}
	if esc.Level == detector.LevelUnknown || condNode == nil {
		return p.errf(n.Line, "rootwatch.escalate needs level and condition")
	}
	if esc.Level <= r.Level {
		return p.errf(n.Line, "rootwatch.escalate.level %s is not above the rule's level %s", esc.Level, r.Level)
	}
	if condNode.Kind != yaml.ScalarNode || condNode.Tag == "!!null" {
		return p.errf(condNode.Line, "rootwatch.escalate.condition must be a string, not %s", kindName(condNode))
	}
	names := make([]string, 0, len(r.Detection))
	for name := range r.Detection {
		names = append(names, name)
	}
	node, err := ParseCondition(condNode.Value, names)
	if err != nil {
		return &Error{File: p.file, Line: condNode.Line, Msg: fmt.Sprintf("rootwatch.escalate.condition %q", condNode.Value), Err: err}
	}
	esc.Condition, esc.ConditionText = node, condNode.Value
	r.Escalation = esc
	return nil
}

// checkName requires a name to be non-empty, printable and free of spaces,
// as it appears in alert keys, metrics and command lines.
func (p *parser) checkName(n *yaml.Node, name string) error {
	if name == "" {
		return p.errf(n.Line, "name must not be empty")
	}
	if len(name) > 128 {
		return p.errf(n.Line, "name %q is longer than 128 bytes", name)
	}
	for _, c := range name {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) || c == '/' {
			return p.errf(n.Line, "name %q must not contain spaces, slashes or control characters", name)
		}
	}
	return nil
}

func (p *parser) logsource(k, v *yaml.Node) (Logsource, error) {
	ls := Logsource{Line: k.Line}
	entries, err := p.mapEntries(v, "logsource")
	if err != nil {
		return ls, err
	}
	for _, e := range entries {
		var err error
		switch e[0].Value {
		case "product":
			ls.Product, err = p.str(e[0], e[1])
		case "service":
			ls.Service, err = p.str(e[0], e[1])
		case "category":
			ls.Category, err = p.str(e[0], e[1])
		}
		if err != nil {
			return ls, err
		}
	}
	return ls, nil
}

func (p *parser) detection(r *Rule, n *yaml.Node) error {
	entries, err := p.mapEntries(n, "detection")
	if err != nil {
		return err
	}
	r.Detection = make(map[string]*Selection, len(entries))
	var condNode, timeframeNode *yaml.Node
	for _, e := range entries {
		k, v := e[0], e[1]
		switch k.Value {
		case "condition":
			condNode = v
			continue
		case "timeframe":
			timeframeNode = k
			continue
		}
		sel, err := p.selection(k, v)
		if err != nil {
			return err
		}
		r.Detection[k.Value] = sel
	}
	if condNode == nil {
		return p.errf(n.Line, "detection has no condition")
	}
	if len(r.Detection) == 0 {
		return p.errf(n.Line, "detection has no selections")
	}
	names := make([]string, 0, len(r.Detection))
	for name := range r.Detection {
		names = append(names, name)
	}
	var conds []*yaml.Node
	switch condNode.Kind {
	case yaml.ScalarNode:
		conds = []*yaml.Node{condNode}
	case yaml.SequenceNode:
		conds = condNode.Content
		if len(conds) == 0 {
			return p.errf(condNode.Line, "condition list is empty")
		}
	default:
		return p.errf(condNode.Line, "condition must be a string or a list of strings, not %s", kindName(condNode))
	}
	var args []*Node
	var texts []string
	for _, c := range conds {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			return p.errf(c.Line, "condition must be a string, not %s", kindName(c))
		}
		if strings.Contains(c.Value, "|") {
			tf := ""
			if timeframeNode != nil {
				tf = n.Content[slices.Index(n.Content, timeframeNode)+1].Value
			}
			return p.aggregationError(c.Line, c.Value, tf, r)
		}
		node, err := ParseCondition(c.Value, names)
		if err != nil {
			return &Error{File: p.file, Line: c.Line, Msg: fmt.Sprintf("condition %q", c.Value), Err: err}
		}
		args = append(args, node)
		texts = append(texts, c.Value)
	}
	if timeframeNode != nil {
		return p.errf(timeframeNode.Line, "unsupported: timeframe without an aggregation (windows belong to correlation rules: see correlation.timespan)")
	}
	if len(args) == 1 {
		r.Condition = args[0]
		r.ConditionText = texts[0]
	} else {
		r.Condition = &Node{Kind: NodeOr, Args: args}
		r.ConditionText = "(" + strings.Join(texts, ") or (") + ")"
	}
	return nil
}

func (p *parser) selection(k, v *yaml.Node) (*Selection, error) {
	sel := &Selection{Name: k.Value, Line: k.Line}
	if k.Value == "" {
		return nil, p.errf(k.Line, "selection with an empty name")
	}
	switch v.Kind {
	case yaml.MappingNode:
		m, err := p.fieldMap(sel.Name, v)
		if err != nil {
			return nil, err
		}
		sel.Maps = []*FieldMap{m}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, p.errf(v.Line, "selection %q is an empty list", sel.Name)
		}
		for _, e := range v.Content {
			switch e.Kind {
			case yaml.MappingNode:
				m, err := p.fieldMap(sel.Name, e)
				if err != nil {
					return nil, err
				}
				sel.Maps = append(sel.Maps, m)
			case yaml.ScalarNode:
				return nil, p.errf(e.Line, "unsupported: keyword selection %q in %q (full-text search; CloudTrail rules must name fields)", e.Value, sel.Name)
			default:
				return nil, p.errf(e.Line, "selection %q: list items must be maps, not %s", sel.Name, kindName(e))
			}
		}
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, p.errf(v.Line, "selection %q is empty", sel.Name)
		}
		return nil, p.errf(v.Line, "unsupported: keyword selection %q in %q (full-text search; CloudTrail rules must name fields)", v.Value, sel.Name)
	default:
		return nil, p.errf(v.Line, "selection %q must be a map or a list of maps, not %s", sel.Name, kindName(v))
	}
	return sel, nil
}

func (p *parser) fieldMap(selName string, n *yaml.Node) (*FieldMap, error) {
	entries, err := p.mapEntries(n, fmt.Sprintf("selection %q", selName))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, p.errf(n.Line, "selection %q has an empty map (it would match every event)", selName)
	}
	m := &FieldMap{Line: n.Line}
	for _, e := range entries {
		fm, err := p.fieldMatch(e[0], e[1])
		if err != nil {
			return nil, err
		}
		m.Matches = append(m.Matches, fm)
	}
	return m, nil
}

func (p *parser) fieldMatch(k, v *yaml.Node) (*FieldMatch, error) {
	parts := strings.Split(k.Value, "|")
	fm := &FieldMatch{Field: parts[0], Modifiers: parts[1:], Line: k.Line}
	if fm.Field == "" {
		return nil, p.errf(k.Line, "unsupported: keyword search with modifiers %q (a field name is required)", k.Value)
	}
	fm.Path = strings.Split(fm.Field, ".")
	for _, seg := range fm.Path {
		if seg == "" {
			return nil, p.errf(k.Line, "invalid field name %q (empty path segment)", fm.Field)
		}
	}
	opSet := false
	var reFlags string
	for i, mod := range fm.Modifiers {
		setOp := func(op Op) error {
			if opSet {
				return p.errf(k.Line, "conflicting modifiers %q and %q on field %q", fm.Op.String(), mod, fm.Field)
			}
			fm.Op, opSet = op, true
			return nil
		}
		var err error
		switch mod {
		case "contains":
			err = setOp(OpContains)
		case "startswith":
			err = setOp(OpStartsWith)
		case "endswith":
			err = setOp(OpEndsWith)
		case "re":
			err = setOp(OpRegexp)
		case "cidr":
			err = setOp(OpCIDR)
		case "exists":
			err = setOp(OpExists)
		case "gt":
			err = setOp(OpGT)
		case "gte":
			err = setOp(OpGTE)
		case "lt":
			err = setOp(OpLT)
		case "lte":
			err = setOp(OpLTE)
		case "all":
			fm.All = true
		case "cased":
			fm.Cased = true
		case "fieldref":
			fm.FieldRef = true
		case "expand":
			fm.Expand = true
		case "i", "m", "s":
			if !opSet || fm.Op != OpRegexp || (i > 0 && !isReSub(fm.Modifiers[:i])) {
				return nil, p.errf(k.Line, "modifier %q on field %q is only valid after \"re\"", mod, fm.Field)
			}
			if !strings.Contains(reFlags, mod) {
				reFlags += mod
			}
		case "":
			return nil, p.errf(k.Line, "empty modifier on field %q", fm.Field)
		default:
			if why, ok := unsupportedModifiers[mod]; ok {
				return nil, p.errf(k.Line, "unsupported modifier %q on field %q (%s)", mod, fm.Field, why)
			}
			return nil, p.errf(k.Line, "unsupported modifier %q on field %q", mod, fm.Field)
		}
		if err != nil {
			return nil, err
		}
	}
	if fm.FieldRef {
		switch fm.Op {
		case OpEquals, OpContains, OpStartsWith, OpEndsWith:
		default:
			return nil, p.errf(k.Line, "modifier \"fieldref\" on field %q cannot be combined with %q", fm.Field, fm.Op.String())
		}
	}
	if fm.Expand {
		switch {
		case fm.FieldRef:
			return nil, p.errf(k.Line, "modifier \"expand\" on field %q cannot be combined with \"fieldref\"", fm.Field)
		case fm.Op != OpEquals && fm.Op != OpContains && fm.Op != OpStartsWith && fm.Op != OpEndsWith:
			return nil, p.errf(k.Line, "modifier \"expand\" on field %q cannot be combined with %q", fm.Field, fm.Op.String())
		}
	}
	if fm.Op == OpExists && (fm.All || fm.Cased) {
		return nil, p.errf(k.Line, "modifier \"exists\" on field %q cannot be combined with other modifiers", fm.Field)
	}
	var nodes []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		nodes = []*yaml.Node{v}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, p.errf(v.Line, "field %q has an empty value list", fm.Field)
		}
		nodes = v.Content
	default:
		return nil, p.errf(v.Line, "unsupported: %s as the value of field %q (want a value or a list of values)", kindName(v), fm.Field)
	}
	if fm.Op == OpExists && len(nodes) != 1 {
		return nil, p.errf(v.Line, "modifier \"exists\" on field %q takes one value, true or false", fm.Field)
	}
	for _, vn := range nodes {
		if vn.Kind != yaml.ScalarNode {
			return nil, p.errf(vn.Line, "unsupported: %s in the value list of field %q", kindName(vn), fm.Field)
		}
		if fm.Expand {
			vals, err := p.expandValue(fm, vn)
			if err != nil {
				return nil, err
			}
			fm.Values = append(fm.Values, vals...)
			if len(fm.Values) > maxExpandedValues {
				return nil, p.errf(vn.Line, "field %q: placeholders expand to more than %d values", fm.Field, maxExpandedValues)
			}
			continue
		}
		val, err := p.value(fm, vn, reFlags)
		if err != nil {
			return nil, err
		}
		fm.Values = append(fm.Values, val)
	}
	return fm, nil
}

// expandValue expands the placeholders of one value of an expand field
// into its values. A template naming an undefined placeholder gives one
// Value with Placeholder set (resolvePlaceholders decides what it matches).
func (p *parser) expandValue(fm *FieldMatch, n *yaml.Node) ([]*Value, error) {
	if n.Tag != "!!str" {
		return nil, p.errf(n.Line, "modifier \"expand\" on field %q needs a string value, not %q", fm.Field, n.Value)
	}
	ex, err := p.expand(n.Value)
	if err != nil {
		return nil, &Error{File: p.file, Line: n.Line, Msg: fmt.Sprintf("field %q", fm.Field), Err: err}
	}
	for _, name := range ex.placeholds {
		if slices.Contains(ex.undefined, name) {
			if p.undefined == nil {
				p.undefined = make(map[string]int)
			}
			if _, seen := p.undefined[name]; !seen {
				p.undefined[name] = n.Line
			}
		} else {
			if p.defined == nil {
				p.defined = make(map[string]bool)
			}
			p.defined[name] = true
		}
	}
	if len(ex.undefined) > 0 {
		return []*Value{{Kind: ValueString, Text: n.Value, Line: n.Line, Placeholder: ex.undefined[0]}}, nil
	}
	out := make([]*Value, len(ex.texts))
	for i := range ex.texts {
		out[i] = &Value{Kind: ValueString, Text: ex.texts[i], Line: n.Line, Glob: ex.globs[i]}
	}
	return out, nil
}

// isReSub reports whether the modifiers before a re sub-modifier are "re"
// followed only by other sub-modifiers (so "re|i|m" is fine, "re|all|i" is
// not).
func isReSub(before []string) bool {
	last := before[len(before)-1]
	if last == "re" {
		return true
	}
	return last == "i" || last == "m" || last == "s"
}

func (p *parser) value(fm *FieldMatch, n *yaml.Node, reFlags string) (*Value, error) {
	v := &Value{Line: n.Line, Text: n.Value}
	switch n.Tag {
	case "!!null":
		v.Kind, v.Text = ValueNull, ""
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, &Error{File: p.file, Line: n.Line, Msg: fmt.Sprintf("invalid boolean %q for field %q", n.Value, fm.Field), Err: err}
		}
		v.Kind, v.Text = ValueBool, strconv.FormatBool(b)
	case "!!int", "!!float":
		v.Kind = ValueNumber
	default:
		v.Kind = ValueString
	}
	if v.Kind == ValueNull && fm.Op != OpEquals {
		return nil, p.errf(n.Line, "null value with modifier %q on field %q (null only means \"absent\" without modifiers)", fm.Op.String(), fm.Field)
	}
	if fm.FieldRef {
		if v.Kind != ValueString || v.Text == "" {
			return nil, p.errf(n.Line, "modifier \"fieldref\" on field %q needs a field name, not %q", fm.Field, n.Value)
		}
		v.Ref = strings.Split(v.Text, ".")
		for _, seg := range v.Ref {
			if seg == "" {
				return nil, p.errf(n.Line, "modifier \"fieldref\" on field %q: invalid field name %q", fm.Field, v.Text)
			}
		}
		return v, nil
	}
	switch fm.Op {
	case OpEquals, OpContains, OpStartsWith, OpEndsWith:
		switch v.Kind {
		case ValueString:
			v.Glob = ParseGlob(v.Text)
		case ValueNumber, ValueBool:
			v.Glob = LiteralGlob(v.Text)
		}
	case OpRegexp:
		if v.Kind != ValueString {
			return nil, p.errf(n.Line, "modifier \"re\" on field %q needs a string value, not %q", fm.Field, n.Value)
		}
		expr := v.Text
		if reFlags != "" {
			expr = "(?" + reFlags + ")" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, &Error{File: p.file, Line: n.Line, Msg: fmt.Sprintf("invalid regular expression %q on field %q", v.Text, fm.Field), Err: err}
		}
		v.Regexp = re
	case OpCIDR:
		pfx, err := netip.ParsePrefix(strings.TrimSpace(v.Text))
		if err != nil {
			return nil, &Error{File: p.file, Line: n.Line, Msg: fmt.Sprintf("invalid CIDR prefix %q on field %q", v.Text, fm.Field), Err: err}
		}
		v.Prefix = pfx.Masked()
	case OpExists:
		if v.Kind != ValueBool {
			return nil, p.errf(n.Line, "modifier \"exists\" on field %q needs true or false, not %q", fm.Field, n.Value)
		}
		v.Exists = v.Text == "true"
	case OpGT, OpGTE, OpLT, OpLTE:
		f, err := strconv.ParseFloat(v.Text, 64)
		if v.Kind != ValueNumber || err != nil {
			return nil, p.errf(n.Line, "modifier %q on field %q needs a number, not %q", fm.Op.String(), fm.Field, n.Value)
		}
		v.Number = f
	}
	return v, nil
}
