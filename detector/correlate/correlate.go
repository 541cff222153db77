// Package correlate evaluates Sigma correlation rules (event_count,
// value_count, temporal, temporal_ordered; see detector/sigma.Correlation)
// over the detections of the rules they refer to, and raises correlation
// detections.
//
// # Semantics
//
//   - Windows are by event time (eventTime), not arrival: events may arrive
//     in any order (S3 objects every ~5 minutes, EventBridge in seconds,
//     redeliveries). A correlation fires as soon as some window of length
//     timespan holds enough events; the window slides, it has no fixed
//     boundaries.
//   - An event counts once per group, however often it is delivered (by
//     eventID; for temporal correlations once per rule it matched). An
//     event that matches two referred rules of an event_count correlation
//     counts once.
//   - One incident, one alert, whatever the arrival order: the events that
//     fired a correlation form an incident, and so do the other events of
//     its referred rules within its timespan (from the incident's first
//     event to its last, at most one timespan), whether they arrived
//     before it fired or after. Such an event is not counted again and
//     starts no second alert; when it arrives after the alert it is
//     announced by a follow-up (see Follow-ups). Ten failed
//     sign-ins within 15 minutes make one alert of a "5 in 15 minutes"
//     correlation, in any order; two password changes, credential steps
//     and API calls within 24 hours make one takeover-chain alert. Events
//     beyond the incident's timespan start a new one (two bursts 20
//     minutes apart make two alerts). Only events of one group spread over
//     more than one timespan can make a number of alerts that depends on
//     the order (an alert raised is not taken back).
//   - An alert's key is derived from the events that fired it. Delivered
//     again, an event of an incident raises its alert again (same
//     EventID), now naming every event that joined it, for the dedupe
//     ledger to drop, so that an alert lost by a failed delivery is raised
//     when the message is retried.
//   - Follow-ups. An event that joins an incident after its alert was
//     raised (the root API call of a takeover arriving minutes later on
//     the S3 path, the 6th..50th failed sign-in of a brute force) raises a
//     follow-up detection (detector.Detection.CorrelationUpdate): the
//     incident's Rule, EventID and Level, every event of the incident in
//     Correlated, those it announces marked Joined, and its own key
//     (rule/incident/+event), so dedupe delivers it once across replicas
//     and redeliveries. Follow-ups are rate-limited per incident: the
//     first event that joins raises one at once; after that an event
//     raises one only when the events waiting to be announced (itself
//     included) are at least as many as those already announced (the
//     incident doubled), or when its event time is FollowUpGap or more
//     after that of the event that raised the previous follow-up. So a
//     brute force of 500 failures within 15 minutes makes the alert and
//     about ten follow-ups, each with the count so far; events that join
//     after the last follow-up are named by the next one, if any, or when
//     the alert is raised again. A redelivered event that raised a
//     follow-up raises it again (same key), for the dedupe ledger to drop.
//   - temporal_ordered needs the rules' events in the order of the rules,
//     each a different event, the first to the last within the timespan.
//   - An event is kept for a timespan plus Lateness after it arrived (wall
//     clock), whatever its event time, so that late and early events meet;
//     a group holds at most MaxEntries events; stores bound the number of
//     groups (see Memory).
//
// State is read and written only for detections of referred rules: an
// ordinary record that no rule matches costs nothing here.
package correlate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// KeyPrefix starts every correlation state key ("corr#RULE#GROUPHASH"),
// also in the DynamoDB table shared with the dedupe ledger.
const KeyPrefix = "corr#"

// MaxEntries bounds the events one group keeps; past it the oldest is
// forgotten (counted in correlation_events_dropped_total{reason="group_full"}).
const MaxEntries = 256

// Lateness is how much longer than a timespan an event is kept after it
// arrived (wall clock), for events of its window that arrive later.
const Lateness = 2 * time.Hour

// FollowUpGap is the event time after which an event joining an incident
// raises a follow-up however few events wait to be announced (see the
// package doc, Follow-ups).
const FollowUpGap = 5 * time.Minute

// Options configure a Correlator.
type Options struct {
	// Store holds the state. Default: a Memory store of DefaultMaxGroups.
	Store Store
	// Metrics, when not nil, receives the correlation metrics.
	Metrics *Metrics
	// Now is the wall clock (state expiry). Default time.Now.
	Now func() time.Time
}

// Correlator evaluates correlation rules. It is safe for concurrent use.
type Correlator struct {
	store  Store
	m      *Metrics
	now    func() time.Time
	corrs  []*corr
	byRule map[string][]ref // rule name -> the correlations referring to it
	hidden map[string]bool  // rules whose detections are not alerts

	parsers sync.Pool // of *fastjson.Parser, for group-by fields
}

type corr struct {
	rule    *sigma.Rule
	c       *sigma.Correlation
	steps   []string     // rule names, in Correlation.Rules order
	groupBy [][][]string // per step: per group-by field, its path
	field   [][]string   // per step: the value_count field's path
}

type ref struct {
	corr *corr
	step int
}

// New returns a Correlator for the correlation rules among rules (the
// others are the rules they may refer to, by name or id). It fails on a
// reference to no rule, to a correlation rule (chains are not
// supported), or on duplicate names. With no correlation rules it returns
// a Correlator whose Correlate only drops hidden rules' detections (there
// are none without correlations).
func New(rules []*sigma.Rule, opts Options) (*Correlator, error) {
	if opts.Store == nil {
		opts.Store = NewMemory(0, opts.Metrics)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Correlator{store: opts.Store, m: opts.Metrics, now: opts.Now, byRule: map[string][]ref{}, hidden: map[string]bool{}}
	c.parsers.New = func() any { return new(fastjson.Parser) }
	byName := map[string]*sigma.Rule{}
	byID := map[string]*sigma.Rule{}
	for _, r := range rules {
		if prev, dup := byName[r.Name]; dup {
			return nil, fmt.Errorf("correlate: duplicate rule name %q in %s and %s", r.Name, prev.File, r.File)
		}
		byName[r.Name] = r
		if r.ID != "" {
			byID[r.ID] = r
		}
		if r.Hidden {
			c.hidden[r.Name] = true
		}
	}
	for _, r := range rules {
		if r.Correlation == nil {
			continue
		}
		k := &corr{rule: r, c: r.Correlation}
		for i, name := range r.Correlation.Rules {
			target, ok := byName[name]
			if !ok {
				target, ok = byID[name]
			}
			if !ok {
				return nil, fmt.Errorf("correlate: %s:%d: correlation %q refers to rule %q, which is not loaded", r.File, r.Correlation.RulesLine, r.Name, name)
			}
			if target.Correlation != nil {
				return nil, fmt.Errorf("correlate: %s:%d: correlation %q refers to correlation %q: unsupported: chained correlations (refer to its base rules instead)", r.File, r.Correlation.RulesLine, r.Name, target.Name)
			}
			if slices.Contains(k.steps, target.Name) {
				return nil, fmt.Errorf("correlate: %s:%d: correlation %q refers to rule %q twice", r.File, r.Correlation.RulesLine, r.Name, target.Name)
			}
			k.steps = append(k.steps, target.Name)
			var paths [][]string
			for _, g := range r.Correlation.GroupBy {
				paths = append(paths, strings.Split(fieldFor(r.Correlation, g, name, target.Name), "."))
			}
			k.groupBy = append(k.groupBy, paths)
			if r.Correlation.Field != "" {
				k.field = append(k.field, strings.Split(fieldFor(r.Correlation, r.Correlation.Field, name, target.Name), "."))
			}
			c.byRule[target.Name] = append(c.byRule[target.Name], ref{corr: k, step: i})
		}
		c.corrs = append(c.corrs, k)
	}
	return c, nil
}

// fieldFor resolves an alias for the rule referred to as refName (its
// name or id) and named name.
func fieldFor(c *sigma.Correlation, field, refName, name string) string {
	if m, ok := c.Aliases[field]; ok {
		if f, ok := m[name]; ok {
			return f
		}
		if f, ok := m[refName]; ok {
			return f
		}
	}
	return field
}

// Len returns the number of correlation rules.
func (c *Correlator) Len() int { return len(c.corrs) }

// Refers reports whether some correlation refers to the rule named name.
func (c *Correlator) Refers(name string) bool { return len(c.byRule[name]) > 0 }

// Correlate feeds dets (base-rule detections) to the correlations that
// refer to their rules and returns dets without the detections of hidden
// rules (see sigma.Rule.Hidden), followed by the correlation detections
// raised, in order. dets is reused for the result. On a store error the
// result holds what was raised before it, and the error wraps the store's:
// the caller should deliver the result and retry the input later (the
// events that were already counted are not counted twice).
func (c *Correlator) Correlate(ctx context.Context, dets []detector.Detection) ([]detector.Detection, error) {
	if len(dets) == 0 || (len(c.byRule) == 0 && len(c.hidden) == 0) {
		return dets, nil
	}
	n := len(dets)
	p := c.parsers.Get().(*fastjson.Parser)
	defer c.parsers.Put(p)
	var firstErr error
	for i := 0; i < n; i++ {
		refs := c.byRule[dets[i].Rule]
		if len(refs) == 0 {
			continue
		}
		d := dets[i] // a copy: dets may grow
		var rec *fastjson.Value
		if len(d.Record) > 0 {
			rec, _ = p.ParseBytes(d.Record) // nil on error: every field is absent
		}
		for _, rf := range refs {
			out, err := c.feed(ctx, rf, &d, rec)
			if err != nil {
				c.m.storeError()
				if firstErr == nil {
					firstErr = fmt.Errorf("correlation %q: %w", rf.corr.rule.Name, err)
				}
				continue
			}
			dets = append(dets, out...)
		}
	}
	if len(c.hidden) > 0 {
		dets = slices.DeleteFunc(dets, func(d detector.Detection) bool { return d.Helper || c.hidden[d.Rule] })
	}
	return dets, firstErr
}

// feed adds one event to one correlation's group and returns the
// detections it raises.
func (c *Correlator) feed(ctx context.Context, rf ref, d *detector.Detection, rec *fastjson.Value) ([]detector.Detection, error) {
	k := rf.corr
	if d.EventTime.IsZero() {
		c.m.dropped("no_event_time")
		return nil, nil
	}
	group := make([]string, len(k.groupBy[rf.step]))
	for i, path := range k.groupBy[rf.step] {
		group[i] = fieldText(rec, path)
	}
	now := c.now()
	e := Entry{ID: d.EventID, Step: rf.step, TimeMS: d.EventTime.UnixMilli(), SeenMS: now.UnixMilli(), Name: d.EventName, IP: d.SourceIP, Source: d.Source}
	if e.ID == "" {
		sum := sha256.Sum256(d.Record)
		e.ID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	if k.field != nil {
		e.Value = fieldText(rec, k.field[rf.step])
	}
	gk := groupKey(group)
	key := KeyPrefix + k.rule.Name + "#" + gk
	var raised []alert
	var dropped int
	err := c.store.Update(ctx, key, func(s *State) (bool, time.Time) {
		var changed bool
		changed, raised, dropped = k.add(s, e, gk)
		return changed, now.Add(k.c.Timespan + Lateness)
	})
	if err != nil {
		return nil, err
	}
	for range dropped {
		c.m.dropped("group_full")
	}
	out := make([]detector.Detection, 0, len(raised))
	for _, a := range raised {
		out = append(out, c.detection(k, d, a))
		if a.update == "" {
			c.m.alert(k.rule.Name)
		} else {
			c.m.followUp(k.rule.Name)
		}
	}
	return out, nil
}

// alert is a correlation that fired: its id and its events; for a
// follow-up, the id of the event that raised it.
type alert struct {
	id     string
	events []Entry
	update string
}

// add adds e to the group's state s and evaluates the correlation.
func (k *corr) add(s *State, e Entry, group string) (changed bool, raised []alert, dropped int) {
	temporal := k.c.Type == sigma.Temporal || k.c.Type == sigma.TemporalOrdered
	for _, x := range s.Entries {
		if x.ID == e.ID && (!temporal || x.Step == e.Step) {
			if x.Alert != "" { // redelivered: raise its alert again
				events := withAlert(s.Entries, x.Alert)
				raised = []alert{{id: x.Alert, events: events}}
				if x.Joined && x.Told == x.ID { // and the follow-up it raised
					raised = append(raised, alert{id: x.Alert, events: events, update: x.ID})
				}
				return false, raised, 0
			}
			return false, nil, 0
		}
	}
	// Forget what arrived longer than a timespan plus Lateness ago: any
	// event still to come that it could correlate with is later than that.
	// (Forgetting by event time instead would drop the events of a burst
	// that arrive after those of a later one, as a scan's parallel jobs and
	// backfills deliver them.)
	horizon := e.SeenMS - (k.c.Timespan + Lateness).Milliseconds()
	s.Entries = slices.DeleteFunc(s.Entries, func(x Entry) bool { return x.SeenMS < horizon })
	span := k.c.Timespan.Milliseconds()
	// An event within the timespan of an incident already raised is part
	// of it: it joins silently (named when the alert is raised again),
	// rather than starting a second alert of the same burst or takeover.
	if id := joinable(s.Entries, e.TimeMS, span); id != "" {
		e.Alert, e.Joined = id, true
	}
	s.Entries = append(s.Entries, e)
	sort.Slice(s.Entries, func(i, j int) bool {
		a, b := s.Entries[i], s.Entries[j]
		if a.TimeMS != b.TimeMS {
			return a.TimeMS < b.TimeMS
		}
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		return a.ID < b.ID
	})
	for len(s.Entries) > MaxEntries {
		// The oldest event that is part of an alert goes first, else the
		// oldest.
		i := slices.IndexFunc(s.Entries, func(x Entry) bool { return x.Alert != "" })
		s.Entries = slices.Delete(s.Entries, max(i, 0), max(i, 0)+1)
		dropped++
	}
	if e.Alert != "" {
		if a, ok := followUp(s.Entries, e); ok {
			raised = []alert{a}
		}
		return true, raised, dropped
	}
	if idx := k.match(s.Entries); idx != nil {
		ids := make([]string, len(idx))
		for i, j := range idx {
			ids[i] = s.Entries[j].ID
		}
		sort.Strings(ids)
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%s\x00%s", k.rule.Name, group, strings.Join(ids, "\x00"))
		id := "corr-" + hex.EncodeToString(h.Sum(nil)[:16])
		for _, j := range idx {
			s.Entries[j].Alert = id
		}
		absorb(s.Entries, id, span)
		raised = []alert{{id: id, events: withAlert(s.Entries, id)}}
	}
	return true, raised, dropped
}

// followUp decides whether e, which just joined its incident (es holds
// it), raises a follow-up (see the package doc, Follow-ups); if so it
// marks the events it announces and returns it.
func followUp(es []Entry, e Entry) (alert, bool) {
	var pending []int
	announced, told, last, found := 0, false, int64(0), false
	for i, x := range es {
		if x.Alert != e.Alert {
			continue
		}
		if x.ID == e.ID && x.Step == e.Step {
			found = true
		}
		switch {
		case x.Joined && x.Told == "":
			pending = append(pending, i)
		default:
			announced++
		}
		if x.Joined && x.Told == x.ID {
			if !told || x.TimeMS > last {
				last = x.TimeMS
			}
			told = true
		}
	}
	if !found || len(pending) == 0 { // e itself was forgotten (group full)
		return alert{}, false
	}
	if told && len(pending) < announced && e.TimeMS-last < FollowUpGap.Milliseconds() {
		return alert{}, false
	}
	for _, i := range pending {
		es[i].Told = e.ID
	}
	return alert{id: e.Alert, events: withAlert(es, e.Alert), update: e.ID}, true
}

// joinable returns the id of the incident (the events of one alert) that
// an event at t can join without the incident spanning more than span
// from its first event to its last, or "": the earliest such incident.
func joinable(es []Entry, t, span int64) string {
	type extent struct{ lo, hi int64 }
	var ids []string
	ext := map[string]extent{}
	for _, x := range es {
		if x.Alert == "" {
			continue
		}
		r, ok := ext[x.Alert]
		if !ok {
			ids = append(ids, x.Alert)
			r = extent{x.TimeMS, x.TimeMS}
		}
		ext[x.Alert] = extent{min(r.lo, x.TimeMS), max(r.hi, x.TimeMS)}
	}
	best := ""
	for _, id := range ids {
		r := ext[id]
		if max(r.hi, t)-min(r.lo, t) <= span && (best == "" || r.lo < ext[best].lo) {
			best = id
		}
	}
	return best
}

// absorb makes the events not part of an alert (es sorted by time) that
// are within the timespan of the new incident id part of it: the events
// that arrived before the incident fired, and that would otherwise start
// a second alert of it with events still to come.
func absorb(es []Entry, id string, span int64) {
	lo, hi := int64(0), int64(0)
	first := true
	for _, x := range es {
		if x.Alert == id {
			if first {
				lo, first = x.TimeMS, false
			}
			hi = x.TimeMS
		}
	}
	for i := range es {
		x := &es[i]
		if x.Alert == "" && max(hi, x.TimeMS)-min(lo, x.TimeMS) <= span {
			x.Alert = id
			lo, hi = min(lo, x.TimeMS), max(hi, x.TimeMS)
		}
	}
}

func withAlert(es []Entry, id string) []Entry {
	var out []Entry
	for _, x := range es {
		if x.Alert == id {
			out = append(out, x)
		}
	}
	return out
}

// match returns the indexes (into es, sorted by time) of the events that
// fire the correlation, or nil. Events already part of an alert are not
// counted.
func (k *corr) match(es []Entry) []int {
	span := k.c.Timespan.Milliseconds()
	free := make([]int, 0, len(es))
	for i := range es {
		if es[i].Alert == "" {
			free = append(free, i)
		}
	}
	if k.c.Type == sigma.TemporalOrdered {
		return k.ordered(es, free, span)
	}
	// Slide a window over the free events: from each start, take every
	// event within the timespan and count.
	for a := range free {
		var idx []int
		seen := map[string]bool{}
		for _, j := range free[a:] {
			x := es[j]
			if x.TimeMS-es[free[a]].TimeMS > span {
				break
			}
			var key string
			switch k.c.Type {
			case sigma.EventCount:
				key = x.ID
			case sigma.ValueCount:
				if x.Value == "" {
					continue
				}
				key = x.Value
			case sigma.Temporal:
				key = k.steps[x.Step]
			}
			idx = append(idx, j)
			seen[key] = true
			if len(seen) >= k.c.Min {
				// Take the rest of the window too: they belong to the same
				// burst, and counting them again would alert again.
				for _, r := range free[a:] {
					if r > j && es[r].TimeMS-es[free[a]].TimeMS <= span {
						idx = append(idx, r)
					}
				}
				return idx
			}
		}
	}
	return nil
}

// ordered finds events of steps 0, 1, ... in time order, each a different
// event, the last within span of the first.
func (k *corr) ordered(es []Entry, free []int, span int64) []int {
	steps := len(k.steps)
	for _, a := range free {
		if es[a].Step != 0 {
			continue
		}
		chain := []int{a}
		for step := 1; step < steps; step++ {
			prev := es[chain[len(chain)-1]]
			found := -1
			for _, j := range free {
				x := es[j]
				if x.Step != step || x.TimeMS < prev.TimeMS || x.TimeMS-es[a].TimeMS > span {
					continue
				}
				if slices.ContainsFunc(chain, func(c int) bool { return es[c].ID == x.ID }) {
					continue
				}
				found = j
				break
			}
			if found < 0 {
				break
			}
			chain = append(chain, found)
		}
		if len(chain) == steps {
			// The other free events of the referred rules in the window
			// belong to the same incident (a second password reset, the
			// next API calls): one alert names them all.
			for _, j := range free {
				if !slices.Contains(chain, j) && es[j].TimeMS >= es[a].TimeMS && es[j].TimeMS-es[a].TimeMS <= span {
					chain = append(chain, j)
				}
			}
			return chain
		}
	}
	return nil
}

// detection builds the correlation detection of a, from the detection d
// of the event that raised it.
func (c *Correlator) detection(k *corr, d *detector.Detection, a alert) detector.Detection {
	out := *d
	if d.MFAUsed != nil {
		v := *d.MFAUsed
		out.MFAUsed = &v
	}
	out.Rule, out.RuleID, out.Level, out.Title = k.rule.Name, k.rule.ID, k.rule.Level, k.rule.Title
	out.Helper = false // raised by a helper rule's event, it is an alert
	out.EventID = a.id
	out.CorrelationUpdate = a.update
	out.LinkUpdate = false // a link note is about the base event, not the incident
	out.Correlated = make([]detector.EventRef, 0, len(a.events))
	for _, x := range a.events {
		out.Correlated = append(out.Correlated, detector.EventRef{
			EventID: x.ID, EventTime: time.UnixMilli(x.TimeMS).UTC(), Rule: k.steps[x.Step],
			EventName: x.Name, SourceIP: x.IP, Source: x.Source,
			Joined: a.update != "" && x.Told == a.update,
		})
	}
	return out
}

// fieldText is the text of the field at path in rec: a string's
// unescaped text, a number's or boolean's literal, "" when absent, null,
// an object or an array.
func fieldText(rec *fastjson.Value, path []string) string {
	if rec == nil {
		return ""
	}
	v := rec.Get(path...)
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNumber, fastjson.TypeTrue, fastjson.TypeFalse:
		return v.String()
	}
	return ""
}

// groupKey hashes the group-by values (attacker-influenced, of any
// length) into a short key part.
func groupKey(vals []string) string {
	h := sha256.New()
	var buf []byte
	for _, v := range vals {
		buf = strconv.AppendInt(buf[:0], int64(len(v)), 10)
		buf = append(append(append(buf, ':'), v...), 0)
		h.Write(buf)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// ErrConflict is wrapped by a shared store's error when another replica
// kept changing a group for longer than the store retries.
var ErrConflict = errors.New("correlation state changed concurrently too often")
