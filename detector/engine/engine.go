// Package engine compiles Sigma rules into a matcher for CloudTrail records
// and matches raw records against them.
//
// Compilation resolves every field path the rules read into one
// detector/fields path set, so a record is walked once and only the needed
// fields are extracted; precomputes each value's matcher (lowered literal
// with an equality, prefix, suffix or substring fast path, a regexp only
// for general wildcard patterns, parsed CIDR prefixes); and indexes rules
// by the literal values their condition requires of the selective fields
// eventName, eventSource, eventType and userIdentity.type, so that a record
// only meets the rules that could match it.
//
// # Field semantics
//
//   - Strings compare by their unescaped text; numbers and booleans by their
//     literal JSON text, so the rule value 5 matches the JSON number 5 and
//     the string "5" (but not 5.0).
//   - Comparisons are case-insensitive (both sides lowered with Unicode
//     lower-casing) unless the cased modifier is given; re is
//     case-sensitive unless re|i.
//   - null matches a field that is absent or JSON null. exists: true matches
//     any present field, JSON null included; exists: false only an absent one.
//   - A field whose path meets an array matches when any element matches
//     (arrays along the path and an array at the end are walked); with the
//     all modifier every value must match some element. A path that misses
//     in an element counts as absent for that element; an empty array on
//     the path counts as absent.
//   - Objects (and arrays nested in arrays) match only contains and re,
//     which apply to the object's raw JSON text and to every string inside
//     it (unescaped), any of them matching; other comparisons never match
//     an object. So requestParameters|contains: '"s3:GetObject"' finds a
//     policy document string nested in requestParameters.
//   - fieldref compares a field with another field of the same record
//     (equality, or with contains, startswith or endswith), under the same
//     case rules; a reference that is absent, null, an object or an array
//     matches nothing.
//   - Field names are split on "." into keys; keys match exactly.
package engine

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valyala/fastjson"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/fields"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// selectiveFields are the fields rules are indexed by, most selective first.
var selectiveFields = []string{"eventName", "eventSource", "eventType", "userIdentity.type"}

// identityFields are the fields of which every CloudTrail record has at
// least one as a string (Insights records have no top-level eventName and
// eventSource, but an eventVersion).
var identityFields = [3]string{"eventVersion", "eventName", "eventSource"}

// commonValues are lowered values of selective fields that most CloudTrail
// records carry. A rule requiring eventType AwsApiCall and userIdentity.type
// Root is indexed under Root, which few records have, rather than under
// AwsApiCall, which most have.
var commonValues = map[string]struct{}{
	"awsapicall": {}, "awsserviceevent": {}, "assumedrole": {}, "iamuser": {}, "awsservice": {},
}

// Engine is a compiled rule set. It is immutable after New and safe for
// concurrent use.
type Engine struct {
	all      []*sigma.Rule // as given to New, correlation rules included
	rules    []*sigma.Rule // the detection rules, compiled
	compiled []*crule
	paths    *fields.Paths
	names    []string   // dotted field name of each path
	keys     [][]string // keys of each path
	ident    [3]int     // paths of eventVersion, eventName, eventSource
	timeIdx  int        // path of eventTime

	unindexed []int32
	index     []fieldIndex

	noIndex    bool
	countEvals bool
	evals      atomic.Uint64

	pool sync.Pool
}

// fieldIndex maps the lowered literal values of one selective field to
// the rules that require one of them.
type fieldIndex struct {
	field   int
	byValue map[string][]int32
	all     []int32 // every rule indexed under this field, in order
}

type options struct {
	noIndex    bool // evaluate every rule on every record
	countEvals bool // count rule evaluations (tests)
}

// New compiles rules. Correlation rules (Rule.Correlation set) are kept for
// Rules but not compiled. Every other rule must have logsource product aws
// and service cloudtrail; rule names must be unique. Errors name the rule's
// file and line.
func New(rules []*sigma.Rule) (*Engine, error) {
	return newEngine(rules, options{})
}

func newEngine(rules []*sigma.Rule, opts options) (*Engine, error) {
	e := &Engine{all: slices.Clone(rules), noIndex: opts.noIndex, countEvals: opts.countEvals}
	byName := map[string]*sigma.Rule{}
	for i, r := range rules {
		if r == nil {
			return nil, fmt.Errorf("engine: rule %d is nil", i)
		}
		if prev, dup := byName[r.Name]; dup {
			return nil, fmt.Errorf("engine: duplicate rule name %q in %s and %s", r.Name, prev.File, r.File)
		}
		byName[r.Name] = r
		if r.Correlation == nil { // correlation rules are detector/correlate's
			e.rules = append(e.rules, r)
		}
	}
	fieldIdx := map[string]int{}
	for i, r := range e.rules {
		if !strings.EqualFold(r.Logsource.Product, "aws") || !strings.EqualFold(r.Logsource.Service, "cloudtrail") {
			return nil, fmt.Errorf("engine: %s:%d: rule %q: logsource product %q service %q is not supported (rootwatch evaluates product aws, service cloudtrail)",
				r.File, max(r.Logsource.Line, r.Line), r.Name, r.Logsource.Product, r.Logsource.Service)
		}
		cr, err := e.compileRule(r, fieldIdx)
		if err != nil {
			return nil, fmt.Errorf("engine: rule %q (%s): %w", r.Name, r.File, err)
		}
		cr.idx = int32(i)
		e.compiled = append(e.compiled, cr)
	}
	// The fields that tell a CloudTrail record from any other object are
	// extracted in the same pass as the rules' fields.
	for i, name := range identityFields {
		e.ident[i] = e.fieldIndexOf(fieldIdx, name)
	}
	// eventTime too, for callers that track how recent their input is
	// (MatchEventTime) without reading every record a second time.
	e.timeIdx = e.fieldIndexOf(fieldIdx, "eventTime")
	for _, name := range e.names {
		e.keys = append(e.keys, strings.Split(name, "."))
	}
	paths, err := fields.Compile(e.keys)
	if err != nil {
		return nil, fmt.Errorf("engine: compile field paths: %w", err)
	}
	e.paths = paths
	e.buildIndex(fieldIdx)
	e.pool.New = func() any { return &scratch{x: e.paths.NewExtractor(), keys: e.keys} }
	return e, nil
}

// Rules returns the rules in the order given to New, correlation rules
// (which the engine does not evaluate; see detector/correlate) included.
func (e *Engine) Rules() []*sigma.Rule { return slices.Clone(e.all) }

// scratch is one goroutine's per-record state, reused through a pool.
type scratch struct {
	x      *fields.Extractor
	keys   [][]string // the engine's field paths
	vals   []fields.Value
	leaves [][]leaf // per field: nil until computed
	done   []bool   // per field: leaves computed
	arena  []byte   // copies of array element values
	lowBuf []byte   // the lowered value of an indexed field

	lowCache [][]byte // per field: lowered text of a scalar value
	lowDone  []bool   // per field: lowCache is set
	lowArena []byte   // lowered texts that differ from the raw text
	hits     []int32
	jp       fastjson.Parser // array elements
	dp       fastjson.Parser // detection fields
}

// Match evaluates the rules against one CloudTrail record (a JSON object)
// and appends a Detection to dst for every rule that matches, in rule
// order. source is recorded in each Detection. rec is not retained: the
// detections share one copy of it in Record. Match fails if rec is not
// exactly one valid JSON object, and with an error wrapping
// detector.ErrNotCloudTrail if it has none of the string fields
// eventVersion, eventName and eventSource.
func (e *Engine) Match(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error) {
	return e.MatchEventTime(rec, source, dst, nil)
}

// MatchEventTime is Match that also hands eventTime, the raw text of the
// record's top-level eventTime string (JSON escapes undone), to eventTime
// when the record has one and is a CloudTrail record; eventTime may be nil.
// It comes from the same single pass over the record as the rules' fields
// and is valid only during the call.
func (e *Engine) MatchEventTime(rec []byte, source string, dst []detector.Detection, eventTime func([]byte)) ([]detector.Detection, error) {
	s := e.pool.Get().(*scratch)
	defer func() {
		s.vals = nil // do not keep the record reachable from the pool
		clear(s.lowCache)
		e.pool.Put(s)
	}()
	vals, err := s.x.Extract(rec)
	if err != nil {
		return dst, fmt.Errorf("engine: record from %s: %w", source, err)
	}
	if vals[e.ident[0]].Kind != fields.KindString && vals[e.ident[1]].Kind != fields.KindString &&
		vals[e.ident[2]].Kind != fields.KindString {
		return dst, fmt.Errorf("engine: object from %s: %w: it has none of the string fields %s",
			source, detector.ErrNotCloudTrail, strings.Join(identityFields[:], ", "))
	}
	if eventTime != nil {
		if v := &vals[e.timeIdx]; v.Kind == fields.KindString {
			eventTime(v.B)
		}
	}
	s.reset(vals)
	if e.noIndex {
		for _, cr := range e.compiled {
			e.try(s, cr)
		}
	} else {
		for _, i := range e.unindexed {
			e.try(s, e.compiled[i])
		}
		for k := range e.index {
			ix := &e.index[k]
			v := &vals[ix.field]
			var cands []int32
			switch {
			case v.Kind == fields.KindArray:
				cands = ix.all
			case v.Kind == fields.KindString || v.Kind == fields.KindNumber || v.Kind == fields.KindBool:
				s.lowBuf = appendLower(s.lowBuf[:0], v.B)
				cands = ix.byValue[string(s.lowBuf)]
			}
			for _, i := range cands {
				e.try(s, e.compiled[i])
			}
		}
		slices.Sort(s.hits)
	}
	if len(s.hits) == 0 {
		return dst, nil
	}
	recCopy := append([]byte(nil), rec...)
	base := detectionFields(&s.dp, recCopy, source)
	for _, i := range s.hits {
		d := base
		if base.MFAUsed != nil { // each detection owns its values
			mfa := *base.MFAUsed
			d.MFAUsed = &mfa
		}
		r := e.rules[i]
		d.Rule, d.RuleID, d.Level, d.Title, d.Helper = r.Name, r.ID, r.Level, r.Title, r.Hidden
		if cr := e.compiled[i]; cr.esc != nil && s.eval(cr.esc) {
			d.Level = cr.escLevel
			d.LevelReason = escalationReason(r)
		}
		dst = append(dst, d)
	}
	return dst, nil
}

// escalationReason is the LevelReason of a detection that r's rootwatch
// escalation raised: the rule's reason, else the condition that held.
func escalationReason(r *sigma.Rule) string {
	if r.Escalation.Reason != "" {
		return r.Escalation.Reason
	}
	return "raised from " + r.Level.String() + " by the rule's escalation condition: " + r.Escalation.ConditionText
}

func (e *Engine) try(s *scratch, cr *crule) {
	if e.countEvals {
		e.evals.Add(1)
	}
	if s.eval(cr.root) {
		s.hits = append(s.hits, cr.idx)
	}
}

func (s *scratch) reset(vals []fields.Value) {
	s.vals = vals
	if cap(s.done) < len(vals) {
		s.done = make([]bool, len(vals))
		s.leaves = make([][]leaf, len(vals))
		s.lowCache = make([][]byte, len(vals))
		s.lowDone = make([]bool, len(vals))
	}
	s.done = s.done[:len(vals)]
	s.leaves = s.leaves[:len(vals)]
	s.lowCache = s.lowCache[:len(vals)]
	s.lowDone = s.lowDone[:len(vals)]
	clear(s.done)
	clear(s.lowDone)
	s.arena = s.arena[:0]
	s.lowArena = s.lowArena[:0]
	s.hits = s.hits[:0]
}
