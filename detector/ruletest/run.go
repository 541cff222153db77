package ruletest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/detector/engine"
)

// Result is the outcome of one case.
type Result struct {
	// Case is the case that ran.
	Case Case
	// Got is the sorted set of rule names that fired.
	Got []string
	// Missing lists expected rules that did not fire.
	Missing []string
	// Unexpected lists rules that fired but were not expected.
	Unexpected []string
	// Unknown lists expected rule names that no rule under test has.
	Unknown []string
	// WrongLevel describes detections whose level differs from the case's
	// levels ("trail-tampering: got high, want critical").
	WrongLevel []string
	// WrongCredential describes detections whose credential differs from
	// the case's credential ("root-api-call: got none, want long_lived_key").
	WrongCredential []string
	// WrongAlerts describes rules whose number of distinct alerts differs
	// from the case's alerts ("root-login-brute-force: got 2, want 1").
	WrongAlerts []string
	// Err is the engine's error for the event (e.g. not a JSON object).
	Err error
}

// Passed reports whether exactly the expected rules fired.
func (r *Result) Passed() bool {
	return r.Err == nil && len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.Unknown) == 0 && len(r.WrongLevel) == 0 &&
		len(r.WrongCredential) == 0 && len(r.WrongAlerts) == 0
}

// Report is the outcome of a run: one Result per case, in the order given.
type Report struct {
	// Results holds one entry per case.
	Results []Result
	// Passed counts the cases that passed.
	Passed int
	// Failed counts the cases that failed.
	Failed int
}

// OK reports whether every case passed (true for an empty run).
func (r Report) OK() bool { return r.Failed == 0 }

// Run matches every case's events against e, in order, then through the
// correlation rules among e.Rules() (fresh state for each case), and
// compares the rules that fired with the case's expectation. Detections
// are reported with the case's file:line as their source.
func Run(e *engine.Engine, cases []Case) Report {
	known := make(map[string]bool)
	for _, r := range e.Rules() {
		known[r.Name] = true
	}
	rep := Report{Results: make([]Result, 0, len(cases))}
	for _, c := range cases {
		res := Result{Case: c}
		for _, name := range c.Expect {
			if !known[name] {
				res.Unknown = append(res.Unknown, name)
			}
		}
		all, err := runCase(e, &c)
		if err != nil {
			res.Err = err
		} else {
			res.Got = firedNames(all)
			res.Missing = minus(c.Expect, res.Got)
			res.Unexpected = minus(res.Got, c.Expect)
			res.WrongLevel = wrongLevels(c.Levels, all)
			res.WrongAlerts = wrongAlerts(c.Alerts, all)
			res.WrongCredential = wrongCredentials(c.Credential, all)
		}
		if res.Passed() {
			rep.Passed++
		} else {
			rep.Failed++
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

// RunLoading runs cases that may carry placeholders (see Case.Placeholders):
// load returns the engine for one placeholder set (nil when the case's file
// gives none) and is called once per distinct set. Results are in case
// order. An error from load stops the run.
func RunLoading(load func(placeholders map[string][]string) (*engine.Engine, error), cases []Case) (Report, error) {
	engines := map[string]*engine.Engine{}
	rep := Report{Results: make([]Result, 0, len(cases))}
	for _, c := range cases {
		key := placeholderKey(c.Placeholders)
		e, ok := engines[key]
		if !ok {
			var err error
			if e, err = load(c.Placeholders); err != nil {
				return rep, fmt.Errorf("rules for %s: %w", c.File, err)
			}
			engines[key] = e
		}
		one := Run(e, []Case{c})
		rep.Results = append(rep.Results, one.Results...)
		rep.Passed += one.Passed
		rep.Failed += one.Failed
	}
	return rep, nil
}

// placeholderKey renders a placeholder set canonically.
func placeholderKey(ph map[string][]string) string {
	names := make([]string, 0, len(ph))
	for n := range ph {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "%q=%q;", n, ph[n])
	}
	return sb.String()
}

// runCase delivers the case's events one by one through e and a
// correlator of its own, and returns every detection made.
func runCase(e *engine.Engine, c *Case) ([]detector.Detection, error) {
	corr, err := correlate.New(e.Rules(), correlate.Options{})
	if err != nil {
		return nil, err
	}
	events := c.Events
	if events == nil {
		events = [][]byte{c.Event}
	}
	var all, dst []detector.Detection
	for i, ev := range events {
		source := fmt.Sprintf("%s:%d", c.File, c.Line)
		if len(events) > 1 {
			source += fmt.Sprintf(" event %d", i+1)
		}
		dst, err = e.Match(ev, source, dst[:0])
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		dst, err = corr.Correlate(context.Background(), dst)
		if err != nil {
			return nil, err
		}
		all = append(all, dst...)
	}
	return all, nil
}

// wrongAlerts compares the number of distinct alerts of each rule with
// want (a correlation's follow-ups are not alerts of their own).
func wrongAlerts(want map[string]int, ds []detector.Detection) []string {
	var out []string
	for _, rule := range slices.Sorted(maps.Keys(want)) {
		keys := map[string]bool{}
		for i := range ds {
			if ds[i].Rule == rule && ds[i].CorrelationUpdate == "" {
				keys[ds[i].Key()] = true
			}
		}
		if len(keys) != want[rule] {
			out = append(out, fmt.Sprintf("%s: got %d, want %d", rule, len(keys), want[rule]))
		}
	}
	return out
}

// wrongLevels compares the levels of the detections with want.
func wrongLevels(want map[string]detector.Level, ds []detector.Detection) []string {
	var out []string
	for i := range ds {
		if l, ok := want[ds[i].Rule]; ok && ds[i].Level != l {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", ds[i].Rule, ds[i].Level, l))
		}
	}
	return out
}

// wrongCredentials compares the credential of the detections with want
// ("KIND" or "KIND/SESSION"; empty: not checked).
func wrongCredentials(want string, ds []detector.Detection) []string {
	if want == "" {
		return nil
	}
	var out []string
	for i := range ds {
		got := ds[i].CredentialKind
		if ds[i].CredentialSession != "" {
			got += "/" + ds[i].CredentialSession
		}
		if got != want {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", ds[i].Rule, got, want))
		}
	}
	return out
}

// firedNames returns the sorted distinct rule names in ds.
func firedNames(ds []detector.Detection) []string {
	names := make([]string, 0, len(ds))
	for i := range ds {
		names = append(names, ds[i].Rule)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// minus returns the elements of the sorted set a that are not in b.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// String renders the report as text: each failed case with what was
// expected and what fired, then a summary line.
func (r Report) String() string {
	var sb strings.Builder
	_ = r.WriteText(&sb, false) // a strings.Builder never fails
	return sb.String()
}

// WriteText writes the report to w: every failed case in detail (and, when
// verbose, one "ok" line per passed case), then a summary line such as
// "rule tests: 88 passed, 0 failed (88 cases in 9 files)".
func (r Report) WriteText(w io.Writer, verbose bool) error {
	files := make(map[string]bool)
	for i := range r.Results {
		res := &r.Results[i]
		files[res.Case.File] = true
		if res.Passed() {
			if verbose {
				if _, err := fmt.Fprintf(w, "ok   %s\n", res.Case.String()); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := fmt.Fprintf(w, "FAIL %s\n%s", res.Case.String(), res.detail()); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "rule tests: %d passed, %d failed (%d cases in %d files)\n",
		r.Passed, r.Failed, len(r.Results), len(files))
	return err
}

func (r *Result) detail() string {
	var sb strings.Builder
	line := func(label string, names []string) {
		fmt.Fprintf(&sb, "     %-11s %s\n", label+":", list(names))
	}
	if r.Case.EventFile != "" {
		fmt.Fprintf(&sb, "     %-11s %s\n", "event file:", r.Case.EventFile)
	}
	if r.Err != nil {
		fmt.Fprintf(&sb, "     %-11s %v\n", "error:", r.Err)
		line("expected", r.Case.Expect)
		return sb.String()
	}
	line("expected", r.Case.Expect)
	line("got", r.Got)
	if len(r.Missing) > 0 {
		line("missing", r.Missing)
	}
	if len(r.Unexpected) > 0 {
		line("unexpected", r.Unexpected)
	}
	if len(r.WrongLevel) > 0 {
		line("level", r.WrongLevel)
	}
	if len(r.WrongCredential) > 0 {
		line("credential", r.WrongCredential)
	}
	if len(r.WrongAlerts) > 0 {
		line("alerts", r.WrongAlerts)
	}
	if len(r.Unknown) > 0 {
		line("unknown", r.Unknown)
		sb.WriteString("     (no rule under test has these names)\n")
	}
	return sb.String()
}

func list(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}
