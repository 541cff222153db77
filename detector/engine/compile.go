package engine

import (
	"fmt"
	"slices"

	"github.com/valyala/fastjson"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/fields"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// crule is a compiled rule.
type crule struct {
	rule *sigma.Rule
	root *cnode
	idx  int32
	// esc is the compiled rootwatch escalate condition (nil when none); a
	// detection for which it holds gets escLevel.
	esc      *cnode
	escLevel detector.Level
}

type nodeKind uint8

const (
	nSel nodeKind = iota
	nAnd
	nOr
	nNot
)

// cnode is a compiled condition node.
type cnode struct {
	kind nodeKind
	kids []*cnode
	sel  *csel
}

// csel is a compiled selection: the OR of maps, each the AND of matches.
type csel struct {
	maps [][]*cmatch
}

// cmatch is one compiled field match.
type cmatch struct {
	field  int // index into the engine's paths
	op     sigma.Op
	all    bool
	exists bool // OpExists: wanted presence
	never  bool // every value named an undefined placeholder
	vals   []cvalue
	// eq holds, for an index, the lowered ASCII literals this match
	// requires when it is a plain equality on literal values (nil if not).
	eq []string
}

func (e *Engine) fieldIndexOf(fieldIdx map[string]int, name string) int {
	if i, ok := fieldIdx[name]; ok {
		return i
	}
	i := len(e.names)
	fieldIdx[name] = i
	e.names = append(e.names, name)
	return i
}

func (e *Engine) compileRule(r *sigma.Rule, fieldIdx map[string]int) (*crule, error) {
	if r.Condition == nil || len(r.Detection) == 0 {
		return nil, fmt.Errorf("%s:%d: rule has no detection", r.File, r.Line)
	}
	sels := make(map[string]*csel, len(r.Detection))
	for name, sel := range r.Detection {
		cs := &csel{}
		for _, m := range sel.Maps {
			var ands []*cmatch
			for _, fm := range m.Matches {
				cm, err := e.compileMatch(fm, fieldIdx)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: field %q: %w", r.File, fm.Line, fm.Field, err)
				}
				ands = append(ands, cm)
			}
			cs.maps = append(cs.maps, ands)
		}
		sels[name] = cs
	}
	root, err := compileNode(r.Condition, sels)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: condition: %w", r.File, r.Line, err)
	}
	cr := &crule{rule: r, root: root}
	if r.Escalation != nil {
		if cr.esc, err = compileNode(r.Escalation.Condition, sels); err != nil {
			return nil, fmt.Errorf("%s:%d: rootwatch.escalate.condition: %w", r.File, r.Escalation.Line, err)
		}
		cr.escLevel = r.Escalation.Level
	}
	return cr, nil
}

func (e *Engine) compileMatch(fm *sigma.FieldMatch, fieldIdx map[string]int) (*cmatch, error) {
	if fm.Never {
		return &cmatch{field: e.fieldIndexOf(fieldIdx, fm.Field), op: fm.Op, never: true}, nil
	}
	if len(fm.Values) == 0 {
		return nil, fmt.Errorf("no values")
	}
	cm := &cmatch{field: e.fieldIndexOf(fieldIdx, fm.Field), op: fm.Op, all: fm.All}
	if fm.Op == sigma.OpExists {
		if len(fm.Values) != 1 {
			return nil, fmt.Errorf("exists takes one value")
		}
		cm.exists = fm.Values[0].Exists
		return cm, nil
	}
	if fm.FieldRef {
		refOp := map[sigma.Op]matchKind{sigma.OpEquals: mEq, sigma.OpStartsWith: mPrefix, sigma.OpEndsWith: mSuffix, sigma.OpContains: mContains}
		op, ok := refOp[fm.Op]
		if !ok {
			return nil, fmt.Errorf("fieldref cannot be combined with %v", fm.Op)
		}
		for _, v := range fm.Values {
			if v.Kind != sigma.ValueString || v.Text == "" {
				return nil, fmt.Errorf("fieldref needs a field name, not %q", v.Text)
			}
			cm.vals = append(cm.vals, cvalue{kind: mFieldRef, refOp: op, cased: fm.Cased, ref: e.fieldIndexOf(fieldIdx, v.Text)})
		}
		return cm, nil
	}
	literal := fm.Op == sigma.OpEquals
	for _, v := range fm.Values {
		cv, err := compileValue(fm, v)
		if err != nil {
			return nil, err
		}
		cm.vals = append(cm.vals, cv)
		if cv.kind != mEq || !isASCII(cv.lit) {
			literal = false
		}
	}
	if literal {
		for _, cv := range cm.vals {
			cm.eq = append(cm.eq, string(appendLower(nil, cv.lit)))
		}
	}
	return cm, nil
}

func compileNode(n *sigma.Node, sels map[string]*csel) (*cnode, error) {
	selNode := func(name string) (*cnode, error) {
		s := sels[name]
		if s == nil {
			return nil, fmt.Errorf("unknown selection %q", name)
		}
		return &cnode{kind: nSel, sel: s}, nil
	}
	switch n.Kind {
	case sigma.NodeSelection:
		return selNode(n.Name)
	case sigma.NodeOneOf, sigma.NodeAllOf:
		kind := nOr
		if n.Kind == sigma.NodeAllOf {
			kind = nAnd
		}
		out := &cnode{kind: kind}
		for _, name := range n.Selections {
			k, err := selNode(name)
			if err != nil {
				return nil, err
			}
			out.kids = append(out.kids, k)
		}
		if len(out.kids) == 0 {
			return nil, fmt.Errorf("quantifier %q matches no selection", n.Pattern)
		}
		return out, nil
	case sigma.NodeNot, sigma.NodeAnd, sigma.NodeOr:
		kind := map[sigma.NodeKind]nodeKind{sigma.NodeNot: nNot, sigma.NodeAnd: nAnd, sigma.NodeOr: nOr}[n.Kind]
		out := &cnode{kind: kind}
		for _, a := range n.Args {
			k, err := compileNode(a, sels)
			if err != nil {
				return nil, err
			}
			out.kids = append(out.kids, k)
		}
		if (kind == nNot && len(out.kids) != 1) || len(out.kids) == 0 {
			return nil, fmt.Errorf("malformed %v node", n.Kind)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown condition node kind %d", n.Kind)
}

// eval evaluates a condition node against the current record.
func (s *scratch) eval(n *cnode) bool {
	switch n.kind {
	case nSel:
		for _, ands := range n.sel.maps {
			ok := true
			for _, m := range ands {
				if !s.evalMatch(m) {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	case nAnd:
		for _, k := range n.kids {
			if !s.eval(k) {
				return false
			}
		}
		return true
	case nOr:
		for _, k := range n.kids {
			if s.eval(k) {
				return true
			}
		}
		return false
	default: // nNot
		return !s.eval(n.kids[0])
	}
}

func (s *scratch) evalMatch(m *cmatch) bool {
	if m.never {
		return false
	}
	v := &s.vals[m.field]
	if v.Kind != fields.KindArray && v.Kind != fields.KindObject {
		if m.op == sigma.OpExists {
			return (v.Kind != fields.KindAbsent) == m.exists
		}
		l := leaf{kind: v.Kind, raw: v.B, lower: s.lowCache[m.field], low: s.lowDone[m.field]}
		res := m.all
		for i := range m.vals {
			if ok := m.vals[i].match(&l, s); ok != m.all {
				res = ok
				break
			}
		}
		if l.low && !s.lowDone[m.field] {
			s.lowCache[m.field], s.lowDone[m.field] = l.lower, true
		}
		return res
	}
	leaves := s.leavesOf(m.field)
	if m.op == sigma.OpExists {
		present := v.Rest == 0 // an array at the end of the path is present
		for i := range leaves {
			if leaves[i].kind != fields.KindAbsent {
				present = true
				break
			}
		}
		return present == m.exists
	}
	for i := range m.vals {
		ok := false
		for j := range leaves {
			if m.vals[i].match(&leaves[j], s) {
				ok = true
				break
			}
		}
		if ok != m.all {
			return ok
		}
	}
	return m.all
}

// leavesOf returns the element values of a field whose path met an array,
// computing them once per record.
func (s *scratch) leavesOf(field int) []leaf {
	if s.done[field] {
		return s.leaves[field]
	}
	s.done[field] = true
	out := s.leaves[field][:0]
	v := &s.vals[field]
	keys := s.keys[field]
	root, err := s.jp.ParseBytes(v.B)
	if err == nil {
		rest := keys[len(keys)-v.Rest:]
		switch {
		case v.Kind == fields.KindObject:
			// The path ends at an object: the object and its strings.
			out = s.appendLeaf(out, root)
		case v.Rest == 0:
			// The path ends at an array: its elements are the leaves.
			for _, el := range root.GetArray() {
				out = s.appendLeaf(out, el)
			}
		default:
			out = s.walk(out, root, rest, 0)
			if len(out) == 0 {
				out = append(out, leaf{kind: fields.KindAbsent})
			}
		}
	}
	s.leaves[field] = out
	return out
}

// maxWalkDepth bounds recursion through nested arrays on the slow path.
const maxWalkDepth = 64

// walk resolves rest inside v, descending into arrays, and appends the
// values found (absent where an element lacks a key).
func (s *scratch) walk(out []leaf, v *fastjson.Value, rest []string, depth int) []leaf {
	if depth > maxWalkDepth {
		return out
	}
	switch v.Type() {
	case fastjson.TypeArray:
		for _, el := range v.GetArray() {
			out = s.walk(out, el, rest, depth+1)
		}
		return out
	case fastjson.TypeObject:
		if len(rest) == 0 {
			return s.appendLeaf(out, v)
		}
		var next *fastjson.Value
		o, _ := v.Object()
		o.Visit(func(k []byte, val *fastjson.Value) {
			if string(k) == rest[0] { // last occurrence wins, as in detector/fields
				next = val
			}
		})
		if next == nil {
			return append(out, leaf{kind: fields.KindAbsent})
		}
		if len(rest) == 1 && next.Type() == fastjson.TypeArray {
			for _, el := range next.GetArray() {
				out = s.appendLeaf(out, el)
			}
			return out
		}
		return s.walk(out, next, rest[1:], depth+1)
	default:
		if len(rest) == 0 {
			return s.appendLeaf(out, v)
		}
		return append(out, leaf{kind: fields.KindAbsent})
	}
}

// appendLeaf appends v as a leaf, copying its text into the arena (the
// parser is reused). Arrays inside arrays become raw JSON text.
func (s *scratch) appendLeaf(out []leaf, v *fastjson.Value) []leaf {
	start := len(s.arena)
	var kind fields.Kind
	switch v.Type() {
	case fastjson.TypeString:
		kind = fields.KindString
		b, _ := v.StringBytes()
		s.arena = append(s.arena, b...)
	case fastjson.TypeNumber:
		kind = fields.KindNumber
		s.arena = v.MarshalTo(s.arena)
	case fastjson.TypeTrue, fastjson.TypeFalse:
		kind = fields.KindBool
		s.arena = v.MarshalTo(s.arena)
	case fastjson.TypeNull:
		return append(out, leaf{kind: fields.KindNull})
	case fastjson.TypeObject:
		s.arena = v.MarshalTo(s.arena)
		out = append(out, leaf{kind: fields.KindObject, raw: s.arena[start:len(s.arena):len(s.arena)]})
		return s.appendNested(out, v, 0)
	default:
		s.arena = v.MarshalTo(s.arena)
		out = append(out, leaf{kind: fields.KindArray, raw: s.arena[start:len(s.arena):len(s.arena)]})
		return s.appendNested(out, v, 0)
	}
	return append(out, leaf{kind: kind, raw: s.arena[start:len(s.arena):len(s.arena)]})
}

// appendNested appends every string inside an object or array as a nested
// leaf, so that contains and re also see unescaped string contents (a JSON
// policy document inside requestParameters, for example).
func (s *scratch) appendNested(out []leaf, v *fastjson.Value, depth int) []leaf {
	if depth > maxWalkDepth {
		return out
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		start := len(s.arena)
		s.arena = append(s.arena, b...)
		return append(out, leaf{kind: fields.KindString, raw: s.arena[start:len(s.arena):len(s.arena)], nested: true})
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(_ []byte, el *fastjson.Value) {
			out = s.appendNested(out, el, depth+1)
		})
	case fastjson.TypeArray:
		for _, el := range v.GetArray() {
			out = s.appendNested(out, el, depth+1)
		}
	}
	return out
}

// buildIndex assigns every rule either to one selective field's index,
// under the literal values its condition requires of that field, or to
// the unindexed list.
func (e *Engine) buildIndex(fieldIdx map[string]int) {
	byField := map[int]*fieldIndex{}
	for _, cr := range e.compiled {
		c := constraintOf(cr.root)
		chosen, chosenCommon := -1, false
		for _, name := range selectiveFields {
			fi, ok := fieldIdx[name]
			if !ok {
				continue
			}
			set, ok := c[fi]
			if !ok {
				continue
			}
			common := false
			for v := range set {
				if _, ok := commonValues[v]; ok {
					common = true
				}
			}
			// The first constrained field in priority order wins, unless it
			// requires a value most records have and a later one does not.
			if chosen < 0 || (chosenCommon && !common) {
				chosen, chosenCommon = fi, common
			}
		}
		if chosen < 0 {
			e.unindexed = append(e.unindexed, cr.idx)
			continue
		}
		ix := byField[chosen]
		if ix == nil {
			ix = &fieldIndex{field: chosen, byValue: map[string][]int32{}}
			byField[chosen] = ix
		}
		ix.all = append(ix.all, cr.idx)
		for v := range c[chosen] {
			ix.byValue[v] = append(ix.byValue[v], cr.idx)
		}
	}
	for _, name := range selectiveFields {
		if fi, ok := fieldIdx[name]; ok && byField[fi] != nil {
			e.index = append(e.index, *byField[fi])
		}
	}
}

// constraint maps a field to the set of lowered literal values one of
// which the field must equal for a node to hold.
type constraint map[int]map[string]struct{}

// constraintOf derives the literal constraints a node implies. AND keeps
// every operand's constraints (intersecting sets on the same field), OR
// keeps only fields constrained in every operand (uniting their sets),
// NOT implies nothing.
func constraintOf(n *cnode) constraint {
	switch n.kind {
	case nSel:
		var parts []constraint
		for _, ands := range n.sel.maps {
			c := constraint{}
			for _, m := range ands {
				if m.eq == nil {
					continue
				}
				set := map[string]struct{}{}
				for _, v := range m.eq {
					set[v] = struct{}{}
				}
				c.and(m.field, set)
			}
			parts = append(parts, c)
		}
		return orAll(parts)
	case nAnd:
		c := constraint{}
		for _, k := range n.kids {
			for f, set := range constraintOf(k) {
				c.and(f, set)
			}
		}
		return c
	case nOr:
		parts := make([]constraint, 0, len(n.kids))
		for _, k := range n.kids {
			parts = append(parts, constraintOf(k))
		}
		return orAll(parts)
	}
	return constraint{}
}

func (c constraint) and(f int, set map[string]struct{}) {
	prev, ok := c[f]
	if !ok {
		c[f] = set
		return
	}
	inter := map[string]struct{}{}
	for v := range prev {
		if _, ok := set[v]; ok {
			inter[v] = struct{}{}
		}
	}
	c[f] = inter
}

func orAll(parts []constraint) constraint {
	out := constraint{}
	if len(parts) == 0 {
		return out
	}
	for f := range parts[0] {
		union := map[string]struct{}{}
		inAll := true
		for _, p := range parts {
			set, ok := p[f]
			if !ok {
				inAll = false
				break
			}
			for v := range set {
				union[v] = struct{}{}
			}
		}
		if inAll {
			out[f] = union
		}
	}
	return out
}

// sortedKeys is used by tests to show an index deterministically.
func sortedKeys(m map[string][]int32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
