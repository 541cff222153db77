// Package ruletest runs detection-as-code tests: CloudTrail records paired
// with the exact set of rule names expected to fire on them, run through the
// real engine.
//
// # Test files
//
// Tests live beside the rules they test, in YAML files inside a directory
// named tests (at any depth), or in files named *_test.yml / *_test.yaml
// (rules.IsTestPath decides; rule loaders skip these files). A test file
// holds one mapping with a single key, cases:
//
//	cases:
//	  - name: root sign-in without MFA        # required, unique in the file
//	    expect: [root-console-login, root-console-login-no-mfa]
//	    event: {                               # the CloudTrail record
//	      "eventSource": "signin.amazonaws.com",
//	      "eventName": "ConsoleLogin",
//	      ...
//	    }
//	  - name: IAM user named root
//	    expect: []                             # nothing may fire
//	    event_file: events/iam-user-root.json  # relative to this file
//
// expect is required and lists the names of the rules that must fire, and
// only they: among the rules under test, a case passes when the set of rules
// that fired equals expect exactly. An empty list means that no rule may
// fire. A name in expect that no rule under test has fails the case (it is
// a typo or a missing rule, never a silent pass).
//
// Each case has exactly one of:
//   - event: the record as a YAML mapping (JSON is YAML, so a pretty-printed
//     CloudTrail record can be pasted as is; unquoted YAML timestamps are
//     kept as strings), or as a string holding the record's JSON text, which
//     is passed to the engine byte for byte;
//   - event_file: a file holding one record as JSON, relative to the test
//     file's directory, inside the directory being loaded;
//   - events: a list of records (each written as for event), delivered in
//     that order, to test correlation rules. Their order is the order of
//     arrival; the correlations window them by their eventTime, so a list
//     out of eventTime order tests out-of-order delivery, and a record given
//     twice tests a redelivery.
//
// Every case runs through the engine and then the correlation rules (see
// detector/correlate), with state of its own: expect lists the rules that
// fired on any of the case's records, correlations included, and rules a
// correlation hides (sigma.Rule.Hidden) never appear.
//
// A case may give alerts, a map from rule names in expect to the number of
// distinct alerts (detector.Detection.Key, what the dedupe ledger
// delivers) the rule must raise over the case's records: a redelivered
// record raises its correlation again under the same key, which counts
// once; a correlation's follow-ups (events that joined its incident after
// the alert, detector.Detection.CorrelationUpdate) are notes on that
// alert and are not counted.
//
//	alerts: {root-login-brute-force: 1}
//
// A case may also give levels, a map from rule names in expect to the level
// each detection must have (to test a rule's rootwatch escalation or its
// unresolved-placeholder fallback):
//
//	levels: {trail-tampering: critical}
//
// and credential, the credential every detection of the case must report:
// its credential_kind, optionally followed by "/" and its
// credential_session (see detector.Detection):
//
//	credential: long_lived_key
//	credential: temporary_session/console
//
// Besides cases, a test file may hold placeholders: the values of the %name%
// placeholders (expand modifier) with which the rules are loaded for this
// file's cases, a value or a list of values per name. Files without it run
// on rules loaded with no placeholders defined.
//
//	placeholders:
//	  bucket: trail-logs
//	  queue: [111122223333/rootwatch]
//
// Anchors, aliases, unknown keys and duplicate keys are errors, so that a
// test file means one thing only.
package ruletest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// Case is one rule test: a record and the rules expected to fire on it.
type Case struct {
	// File names the test file, as given to the loader (a path under the
	// loaded directory, or prefix/path for LoadFS).
	File string
	// Line is the 1-based line of the case in File.
	Line int
	// Name is the case's name, unique within File.
	Name string
	// Expect is the sorted set of rule names that must fire, and only they.
	// Empty (not nil) when no rule may fire.
	Expect []string
	// Event is the CloudTrail record as JSON (the first of Events for a
	// case with events).
	Event []byte
	// Events are the records of a case with events, in delivery order (nil
	// for a case with event or event_file).
	Events [][]byte
	// Alerts maps rule names of Expect to the number of distinct alerts
	// they must raise (nil when the case gives none).
	Alerts map[string]int
	// EventFile names the file Event was read from, or "" when the event
	// was written in the test file.
	EventFile string
	// Levels maps rule names of Expect to the level their detection must
	// have (nil when the case gives none).
	Levels map[string]detector.Level
	// Credential is the credential every detection must report,
	// "KIND" or "KIND/SESSION" (empty when the case gives none).
	Credential string
	// Placeholders holds the file's placeholder values (nil when the file
	// gives none); the rules run on this case are loaded with them.
	Placeholders map[string][]string
}

// String names the case as file:line: name.
func (c *Case) String() string { return fmt.Sprintf("%s:%d: %s", c.File, c.Line, c.Name) }

// LoadDir loads every test file under dir, recursively (hidden files and
// directories, and subdirectories named testdata, are skipped), in path
// order, each file's cases in file order.
// When dir is itself a directory named tests, every YAML file in it is a
// test file. Errors name the test file and, where it applies, the line.
func LoadDir(dir string) ([]Case, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("rule tests directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("rule tests directory %s: not a directory", dir)
	}
	accept := rules.IsTestPath
	if abs, err := filepath.Abs(dir); err == nil && filepath.Base(abs) == "tests" {
		accept = isYAML // dir is itself a tests directory: every YAML file in it is a test file
	}
	return load(os.DirFS(dir), ".", func(rel string) string {
		return filepath.Join(dir, filepath.FromSlash(rel))
	}, accept)
}

func isYAML(p string) bool {
	ext := path.Ext(p)
	return ext == ".yml" || ext == ".yaml"
}

// LoadFS loads test files from fsys under root (slash-separated, "." for
// all of fsys). Case.File names each file as prefix joined with its path
// below root. When all is true every .yml/.yaml file under root is a test
// file (as for rules.BuiltinTestFS); otherwise only those rules.IsTestPath
// accepts are.
func LoadFS(fsys fs.FS, root, prefix string, all bool) ([]Case, error) {
	accept := rules.IsTestPath
	if all {
		accept = isYAML
	}
	return load(fsys, root, func(rel string) string { return path.Join(prefix, rel) }, accept)
}

func load(fsys fs.FS, root string, name func(rel string) string, accept func(p string) bool) ([]Case, error) {
	rel := func(p string) string {
		if root == "." {
			return p
		}
		r := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if r == "" {
			return "."
		}
		return r
	}
	var files []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name(rel(p)), err)
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() && p != root && d.Name() == "testdata" {
			return fs.SkipDir
		}
		if d.IsDir() || !accept(rel(p)) {
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var cases []Case
	for _, p := range files {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("rule test file %s: %w", name(rel(p)), err)
		}
		cs, err := parseFile(name(rel(p)), data, func(ref string) (string, []byte, error) {
			target := path.Join(path.Dir(p), ref)
			if path.IsAbs(ref) || !fs.ValidPath(target) || !inside(root, target) {
				return "", nil, fmt.Errorf("event_file %q must be a relative path inside the loaded directory", ref)
			}
			b, err := fs.ReadFile(fsys, target)
			if err != nil {
				return "", nil, fmt.Errorf("event_file: %w", err)
			}
			return name(rel(target)), b, nil
		})
		if err != nil {
			return nil, err
		}
		cases = append(cases, cs...)
	}
	return cases, nil
}

// inside reports whether the clean slash path p is root or below it.
func inside(root, p string) bool {
	return root == "." || p == root || strings.HasPrefix(p, root+"/")
}

// Parse parses one test file's contents. file names it in Case.File and in
// errors. Cases using event_file cannot be resolved without a directory and
// are an error here; use LoadDir or LoadFS for those.
func Parse(file string, data []byte) ([]Case, error) {
	return parseFile(file, data, func(ref string) (string, []byte, error) {
		return "", nil, fmt.Errorf("event_file %q: not supported when parsing a single file", ref)
	})
}

// fileError is a problem at a line of a test file.
type fileError struct {
	file string
	line int
	msg  string
	err  error
}

func (e *fileError) Error() string {
	s := fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *fileError) Unwrap() error { return e.err }

// maxEventDepth bounds the nesting of an event written in YAML.
const maxEventDepth = 64

func parseFile(file string, data []byte, readEvent func(ref string) (string, []byte, error)) ([]Case, error) {
	errAt := func(line int, err error, format string, args ...any) error {
		return &fileError{file: file, line: line, msg: fmt.Sprintf(format, args...), err: err}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, errAt(0, err, "not a valid YAML test file")
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errAt(extra.Line, nil, "more than one YAML document")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errAt(doc.Line, nil, "a test file must be a mapping with the key cases")
	}
	top := doc.Content[0]
	var casesNode, phNode *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "cases":
			if casesNode != nil {
				return nil, errAt(k.Line, nil, "duplicate key cases")
			}
			casesNode = v
		case "placeholders":
			if phNode != nil {
				return nil, errAt(k.Line, nil, "duplicate key placeholders")
			}
			phNode = v
		default:
			return nil, errAt(k.Line, nil, "unknown key %q (a test file has cases and placeholders)", k.Value)
		}
	}
	var placeholders map[string][]string
	if phNode != nil {
		var err error
		if placeholders, err = placeholderMap(phNode); err != nil {
			return nil, errAt(phNode.Line, nil, "placeholders: %s", err)
		}
	}
	if casesNode == nil {
		return nil, errAt(top.Line, nil, "missing key cases")
	}
	if casesNode.Kind != yaml.SequenceNode {
		return nil, errAt(casesNode.Line, nil, "cases must be a list")
	}
	seen := make(map[string]int)
	out := make([]Case, 0, len(casesNode.Content))
	for _, cn := range casesNode.Content {
		c := Case{File: file, Line: cn.Line, Placeholders: placeholders}
		if cn.Kind != yaml.MappingNode {
			return nil, errAt(cn.Line, nil, "a case must be a mapping with name, expect and event or event_file")
		}
		var haveExpect bool
		var eventNode, levelsNode, eventsNode, alertsNode *yaml.Node
		var eventFile string
		keys := make(map[string]bool)
		for i := 0; i+1 < len(cn.Content); i += 2 {
			k, v := cn.Content[i], cn.Content[i+1]
			if keys[k.Value] {
				return nil, errAt(k.Line, nil, "duplicate key %q", k.Value)
			}
			keys[k.Value] = true
			switch k.Value {
			case "name":
				if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || strings.TrimSpace(v.Value) == "" {
					return nil, errAt(v.Line, nil, "name must be a non-empty string")
				}
				c.Name = v.Value
			case "expect":
				names, err := expectList(v)
				if err != nil {
					return nil, errAt(v.Line, nil, "expect: %s", err)
				}
				c.Expect = names
				haveExpect = true
			case "event":
				eventNode = v
			case "levels":
				levelsNode = v
			case "credential":
				cred, err := credentialValue(v)
				if err != nil {
					return nil, errAt(v.Line, nil, "credential: %s", err)
				}
				c.Credential = cred
			case "events":
				eventsNode = v
			case "alerts":
				alertsNode = v
			case "event_file":
				if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "" {
					return nil, errAt(v.Line, nil, "event_file must be a path")
				}
				eventFile = v.Value
			default:
				return nil, errAt(k.Line, nil, "unknown key %q in a case (want name, expect, levels, credential, alerts, event, event_file or events)", k.Value)
			}
		}
		given := 0
		for _, set := range []bool{eventNode != nil, eventFile != "", eventsNode != nil} {
			if set {
				given++
			}
		}
		switch {
		case c.Name == "":
			return nil, errAt(cn.Line, nil, "case without a name")
		case !haveExpect:
			return nil, errAt(cn.Line, nil, "case %q: missing expect (use [] when no rule may fire)", c.Name)
		case given == 0:
			return nil, errAt(cn.Line, nil, "case %q: missing event, event_file or events", c.Name)
		case given > 1:
			return nil, errAt(cn.Line, nil, "case %q: give only one of event, event_file and events", c.Name)
		}
		if alertsNode != nil {
			alerts, err := alertMap(alertsNode, c.Expect)
			if err != nil {
				return nil, errAt(alertsNode.Line, nil, "case %q: alerts: %s", c.Name, err)
			}
			c.Alerts = alerts
		}
		if c.Credential != "" && len(c.Expect) == 0 {
			return nil, errAt(cn.Line, nil, "case %q: credential needs a rule in expect (it is checked on the detections)", c.Name)
		}
		if levelsNode != nil {
			levels, err := levelMap(levelsNode, c.Expect)
			if err != nil {
				return nil, errAt(levelsNode.Line, nil, "case %q: levels: %s", c.Name, err)
			}
			c.Levels = levels
		}
		if prev, dup := seen[c.Name]; dup {
			return nil, errAt(cn.Line, nil, "case %q: name already used at line %d", c.Name, prev)
		}
		seen[c.Name] = cn.Line
		if eventsNode != nil {
			if eventsNode.Kind != yaml.SequenceNode || len(eventsNode.Content) == 0 {
				return nil, errAt(eventsNode.Line, nil, "case %q: events must be a non-empty list of records", c.Name)
			}
			for _, en := range eventsNode.Content {
				ev, err := eventJSON(en)
				if err != nil {
					return nil, errAt(en.Line, err, "case %q: events", c.Name)
				}
				c.Events = append(c.Events, ev)
			}
			c.Event = c.Events[0]
		} else if eventNode != nil {
			ev, err := eventJSON(eventNode)
			if err != nil {
				return nil, errAt(eventNode.Line, err, "case %q: event", c.Name)
			}
			c.Event = ev
		} else {
			name, ev, err := readEvent(eventFile)
			if err != nil {
				return nil, errAt(cn.Line, err, "case %q", c.Name)
			}
			if !json.Valid(ev) {
				return nil, errAt(cn.Line, nil, "case %q: event_file %s is not valid JSON", c.Name, name)
			}
			c.Event, c.EventFile = ev, name
		}
		out = append(out, c)
	}
	return out, nil
}

// placeholderMap reads the placeholders map: name -> a string or a list of
// strings.
func placeholderMap(n *yaml.Node) (map[string][]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("must be a map of placeholder names to a value or a list of values")
	}
	out := make(map[string][]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || !sigma.ValidPlaceholderName(k.Value) {
			return nil, fmt.Errorf("line %d: invalid placeholder name %q", k.Line, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: duplicate placeholder %q", k.Line, k.Value)
		}
		var items []*yaml.Node
		switch v.Kind {
		case yaml.ScalarNode:
			items = []*yaml.Node{v}
		case yaml.SequenceNode:
			if len(v.Content) == 0 {
				return nil, fmt.Errorf("line %d: %q has no values (leave it out to test the rules without it)", v.Line, k.Value)
			}
			items = v.Content
		default:
			return nil, fmt.Errorf("line %d: %q must be a string or a list of strings", v.Line, k.Value)
		}
		vals := []string{}
		for _, e := range items {
			if e.Kind != yaml.ScalarNode || e.Tag != "!!str" || e.Value == "" {
				return nil, fmt.Errorf("line %d: %q: values must be non-empty strings", e.Line, k.Value)
			}
			vals = append(vals, e.Value)
		}
		out[k.Value] = vals
	}
	return out, nil
}

// credentialValue reads a case's credential: a known credential kind,
// optionally "/" and a known session kind.
func credentialValue(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", errors.New("must be a string: KIND or KIND/SESSION")
	}
	kind, sess, hasSess := strings.Cut(n.Value, "/")
	switch kind {
	case detector.CredentialLongLivedKey, detector.CredentialTemporarySession, detector.CredentialNone, detector.CredentialUnknown:
	default:
		return "", fmt.Errorf("unknown credential kind %q (want %s, %s, %s or %s)", kind,
			detector.CredentialLongLivedKey, detector.CredentialTemporarySession, detector.CredentialNone, detector.CredentialUnknown)
	}
	if hasSess && sess != detector.SessionConsole && sess != detector.SessionAssumedRoot {
		return "", fmt.Errorf("unknown session kind %q (want %s or %s)", sess, detector.SessionConsole, detector.SessionAssumedRoot)
	}
	return n.Value, nil
}

// levelMap reads a case's levels map: rule name (one of expect) -> level.
func levelMap(n *yaml.Node, expect []string) (map[string]detector.Level, error) {
	return ruleMap(n, expect, "levels", func(k, v *yaml.Node) (detector.Level, error) {
		if v.Kind != yaml.ScalarNode {
			return 0, fmt.Errorf("line %d: level of %q must be a level name", v.Line, k.Value)
		}
		l, err := detector.ParseLevel(v.Value)
		if err != nil {
			return 0, fmt.Errorf("line %d: %w", v.Line, err)
		}
		return l, nil
	})
}

// alertMap reads a case's alerts map: rule name (one of expect) -> the
// number of distinct alerts, at least 1.
func alertMap(n *yaml.Node, expect []string) (map[string]int, error) {
	return ruleMap(n, expect, "numbers of alerts", func(k, v *yaml.Node) (int, error) {
		num, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || num < 1 {
			return 0, fmt.Errorf("line %d: the number of alerts of %q must be a positive integer", v.Line, k.Value)
		}
		return num, nil
	})
}

// ruleMap reads a map from rule names of expect, each once, to values
// that value reads.
func ruleMap[V any](n *yaml.Node, expect []string, what string, value func(k, v *yaml.Node) (V, error)) (map[string]V, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("must be a map of rule names to %s", what)
	}
	out := make(map[string]V, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || !slices.Contains(expect, k.Value) {
			return nil, fmt.Errorf("line %d: %q is not in expect", k.Line, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: rule %q listed twice", k.Line, k.Value)
		}
		val, err := value(k, v)
		if err != nil {
			return nil, err
		}
		out[k.Value] = val
	}
	return out, nil
}

func expectList(n *yaml.Node) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("must be a list of rule names ([] for none)")
	}
	names := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		if e.Kind != yaml.ScalarNode || e.Tag != "!!str" || strings.TrimSpace(e.Value) == "" {
			return nil, fmt.Errorf("line %d: rule names must be non-empty strings", e.Line)
		}
		if slices.Contains(names, e.Value) {
			return nil, fmt.Errorf("line %d: rule %q listed twice", e.Line, e.Value)
		}
		names = append(names, e.Value)
	}
	sort.Strings(names)
	return names, nil
}

// eventJSON turns an event node into the record's JSON: a string is the
// JSON text itself; a mapping is converted, keeping key order.
func eventJSON(n *yaml.Node) ([]byte, error) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		b := []byte(n.Value)
		if !json.Valid(b) {
			return nil, errors.New("a string event must hold the record's JSON text, and this is not valid JSON")
		}
		return b, nil
	case n.Kind == yaml.MappingNode:
		var buf bytes.Buffer
		if err := writeJSON(&buf, n, 0); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	default:
		return nil, errors.New("must be a mapping (the CloudTrail record) or a string of JSON")
	}
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxEventDepth {
		return fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxEventDepth)
	}
	switch n.Kind {
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: keys must be strings", k.Line)
			}
			if k.Tag == "!!merge" {
				return fmt.Errorf("line %d: merge keys (<<) are not supported", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k.Value)
			buf.WriteByte(':')
			if err := writeJSON(buf, v, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, e, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	case yaml.AliasNode:
		return fmt.Errorf("line %d: aliases are not supported in events", n.Line)
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Tag {
	case "!!null":
		buf.WriteString("null")
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.WriteString(strconv.FormatBool(b))
	case "!!int":
		if json.Valid([]byte(n.Value)) {
			buf.WriteString(n.Value) // a JSON integer literal, kept whatever its size
			return nil
		}
		var i int64
		if err := n.Decode(&i); err != nil {
			return fmt.Errorf("line %d: integer %q: %w", n.Line, n.Value, err)
		}
		buf.WriteString(strconv.FormatInt(i, 10))
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return fmt.Errorf("line %d: number %q: %w", n.Line, n.Value, err)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("line %d: %q has no JSON form", n.Line, n.Value)
		}
		if json.Valid([]byte(n.Value)) {
			buf.WriteString(n.Value) // keep the literal as written: 1.10 stays 1.10
		} else {
			buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	case "!!binary":
		return fmt.Errorf("line %d: binary values are not supported", n.Line)
	default: // !!str, !!timestamp and custom tags: the text as written
		writeString(buf, n.Value)
	}
	return nil
}

// writeString writes s as a JSON string, escaping only what JSON requires
// (no HTML escaping, so "<" stays "<" as in CloudTrail's own output).
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // encoding a string into a bytes.Buffer cannot fail
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}
