package sigma

import (
	"fmt"
	"sort"
	"strings"
)

// NodeKind is the kind of a condition Node.
type NodeKind uint8

// Condition node kinds.
const (
	// NodeSelection references one named selection (Node.Name).
	NodeSelection NodeKind = iota
	// NodeAnd holds when all Args hold.
	NodeAnd
	// NodeOr holds when any Arg holds.
	NodeOr
	// NodeNot holds when its single Arg does not.
	NodeNot
	// NodeOneOf ("1 of pattern", "any of pattern", "1 of them") holds when
	// any selection in Node.Selections holds.
	NodeOneOf
	// NodeAllOf ("all of pattern", "all of them") holds when every
	// selection in Node.Selections holds.
	NodeAllOf
)

// Node is a parsed condition expression.
type Node struct {
	// Kind is the node's kind.
	Kind NodeKind
	// Name is the selection name of a NodeSelection.
	Name string
	// Pattern is the selection pattern of NodeOneOf and NodeAllOf as
	// written ("filter_*" or "them").
	Pattern string
	// Selections are the selection names a NodeOneOf or NodeAllOf pattern
	// matched, sorted; never empty.
	Selections []string
	// Args are the operands of NodeAnd and NodeOr (two or more) and NodeNot
	// (exactly one).
	Args []*Node
}

// String renders the node as a fully parenthesised condition.
func (n *Node) String() string {
	switch n.Kind {
	case NodeSelection:
		return n.Name
	case NodeNot:
		return "not " + n.Args[0].String()
	case NodeAnd, NodeOr:
		op := " and "
		if n.Kind == NodeOr {
			op = " or "
		}
		parts := make([]string, len(n.Args))
		for i, a := range n.Args {
			parts[i] = a.String()
		}
		return "(" + strings.Join(parts, op) + ")"
	case NodeOneOf:
		return "1 of " + n.Pattern
	case NodeAllOf:
		return "all of " + n.Pattern
	}
	return "?"
}

// maxConditionDepth bounds nesting (parentheses and not chains) so that a
// hostile rule cannot exhaust the stack.
const maxConditionDepth = 64

// maxConditionLen bounds the length of one condition string.
const maxConditionLen = 64 << 10

// conditionError is a condition syntax error at a byte offset.
type conditionError struct {
	off int
	msg string
}

func (e *conditionError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

type token struct {
	text string
	off  int
}

// ParseCondition parses a Sigma condition over the given selection names.
// It fails on unknown selections, patterns that match no selection, syntax
// errors and aggregations ("| count() > 5").
func ParseCondition(cond string, selections []string) (*Node, error) {
	if len(cond) > maxConditionLen {
		return nil, &conditionError{off: maxConditionLen, msg: "condition too long"}
	}
	toks, err := tokenize(cond)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, &conditionError{off: 0, msg: "empty condition"}
	}
	names := append([]string(nil), selections...)
	sort.Strings(names)
	p := &condParser{toks: toks, names: names, end: len(cond)}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		return nil, &conditionError{off: t.off, msg: fmt.Sprintf("unexpected %q", t.text)}
	}
	return n, nil
}

func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, token{text: s[i : i+1], off: i})
			i++
		case c == '|':
			return nil, &conditionError{off: i, msg: "unsupported: aggregation expression (\"| count() ...\"); correlation is not supported"}
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n()|", rune(s[j])) {
				j++
			}
			toks = append(toks, token{text: s[i:j], off: i})
			i = j
		}
	}
	return toks, nil
}

type condParser struct {
	toks  []token
	pos   int
	names []string
	end   int
}

func (p *condParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{off: p.end}, false
}

func isKeyword(t token, kw string) bool { return strings.EqualFold(t.text, kw) }

func (p *condParser) parseOr(depth int) (*Node, error) {
	left, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	args := []*Node{left}
	for {
		t, ok := p.peek()
		if !ok || !isKeyword(t, "or") {
			break
		}
		p.pos++
		right, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		args = append(args, right)
	}
	if len(args) == 1 {
		return left, nil
	}
	return &Node{Kind: NodeOr, Args: args}, nil
}

func (p *condParser) parseAnd(depth int) (*Node, error) {
	left, err := p.parseNot(depth)
	if err != nil {
		return nil, err
	}
	args := []*Node{left}
	for {
		t, ok := p.peek()
		if !ok || !isKeyword(t, "and") {
			break
		}
		p.pos++
		right, err := p.parseNot(depth)
		if err != nil {
			return nil, err
		}
		args = append(args, right)
	}
	if len(args) == 1 {
		return left, nil
	}
	return &Node{Kind: NodeAnd, Args: args}, nil
}

func (p *condParser) parseNot(depth int) (*Node, error) {
	if depth > maxConditionDepth {
		t, _ := p.peek()
		return nil, &conditionError{off: t.off, msg: "condition nested too deeply"}
	}
	t, ok := p.peek()
	if ok && isKeyword(t, "not") {
		p.pos++
		arg, err := p.parseNot(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Node{Kind: NodeNot, Args: []*Node{arg}}, nil
	}
	return p.parsePrimary(depth)
}

func (p *condParser) parsePrimary(depth int) (*Node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, &conditionError{off: t.off, msg: "unexpected end of condition"}
	}
	switch {
	case t.text == "(":
		p.pos++
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		c, ok := p.peek()
		if !ok || c.text != ")" {
			return nil, &conditionError{off: c.off, msg: "missing \")\""}
		}
		p.pos++
		return n, nil
	case t.text == ")":
		return nil, &conditionError{off: t.off, msg: "unexpected \")\""}
	case isKeyword(t, "and") || isKeyword(t, "or") || isKeyword(t, "of") || isKeyword(t, "them"):
		return nil, &conditionError{off: t.off, msg: fmt.Sprintf("unexpected %q", t.text)}
	}
	// Quantifier: "1 of x", "any of x", "all of x".
	if p.pos+1 < len(p.toks) && isKeyword(p.toks[p.pos+1], "of") {
		var kind NodeKind
		switch {
		case t.text == "1" || isKeyword(t, "any"):
			kind = NodeOneOf
		case isKeyword(t, "all"):
			kind = NodeAllOf
		default:
			return nil, &conditionError{off: t.off, msg: fmt.Sprintf("unsupported quantifier %q (want 1, any or all)", t.text)}
		}
		p.pos += 2
		pt, ok := p.peek()
		if !ok || pt.text == "(" || pt.text == ")" {
			return nil, &conditionError{off: pt.off, msg: "missing selection pattern after \"of\""}
		}
		p.pos++
		var sels []string
		if isKeyword(pt, "them") {
			sels = append(sels, p.names...)
		} else {
			for _, n := range p.names {
				if matchStar(pt.text, n) {
					sels = append(sels, n)
				}
			}
		}
		if len(sels) == 0 {
			return nil, &conditionError{off: pt.off, msg: fmt.Sprintf("selection pattern %q matches no selection", pt.text)}
		}
		return &Node{Kind: kind, Pattern: pt.text, Selections: sels}, nil
	}
	p.pos++
	i := sort.SearchStrings(p.names, t.text)
	if i == len(p.names) || p.names[i] != t.text {
		return nil, &conditionError{off: t.off, msg: fmt.Sprintf("unknown selection %q", t.text)}
	}
	return &Node{Kind: NodeSelection, Name: t.text}, nil
}

// matchStar reports whether name matches pattern, where "*" in pattern
// matches any run of characters (Sigma's selection patterns).
func matchStar(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return len(name) >= len(last) && strings.HasSuffix(name, last)
}
