package expect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits on a declarations file.
const (
	MaxFileBytes   = 1 << 20
	MaxFileEntries = 1000
)

// File is a Store in a YAML file (ROOTWATCH_EXPECTATIONS):
//
//	expectations:
//	  - id: e-20261120-3f9a1c0b
//	    account: "111122223333"
//	    reason: SEC-123 close sandbox
//	    by: alice
//	    start: 2026-11-20T09:00:00Z
//	    ends: 2026-11-20T11:00:00Z     # or   for: 2h
//	    rules: [root-console-login, root-account-settings-change]   # optional
//	    source_cidrs: [203.0.113.0/24]                              # optional
//	    ended_by: bob                                               # set by `expect end`
//
// The file may be edited by hand or by `rootwatch expect add/end`. List
// reads it again only when its modification time, size or identity
// changed. Every error names the file and line. Writes replace the file
// atomically (a temporary file renamed over it) and drop declarations that
// ended more than Retention ago; they are not locked against a concurrent
// writer on another host.
type File struct {
	path string
	now  func() time.Time

	mu     sync.Mutex
	stamp  fileStamp
	cached []Expectation
}

type fileStamp struct {
	mod  time.Time
	size int64
	info os.FileInfo
}

var _ Store = (*File)(nil)

// NewFile returns a Store on path. The file need not exist yet (no
// declarations).
func NewFile(path string) *File { return &File{path: path, now: time.Now} }

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// List implements Store.
func (f *File) List(context.Context) ([]Expectation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load()
}

// load returns the file's declarations, reading it only when it changed.
func (f *File) load() ([]Expectation, error) {
	st, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		f.stamp, f.cached = fileStamp{}, nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	if f.stamp.info != nil && st.ModTime().Equal(f.stamp.mod) && st.Size() == f.stamp.size && os.SameFile(st, f.stamp.info) {
		return slices.Clone(f.cached), nil
	}
	r, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("expectations: read %s: %w", f.path, err)
	}
	list, err := Parse(f.path, data)
	if err != nil {
		return nil, err
	}
	f.stamp = fileStamp{mod: st.ModTime(), size: st.Size(), info: st}
	f.cached = list
	return slices.Clone(list), nil
}

// Add implements Store.
func (f *File) Add(_ context.Context, e Expectation) error {
	if err := e.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	list, err := f.load()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(list, func(x Expectation) bool { return x.ID == e.ID }) {
		return fmt.Errorf("%w: %s", ErrExists, e.ID)
	}
	return f.write(append(list, e))
}

// End implements Store.
func (f *File) End(_ context.Context, id string, at time.Time, by string) (Expectation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list, err := f.load()
	if err != nil {
		return Expectation{}, err
	}
	i := slices.IndexFunc(list, func(x Expectation) bool { return x.ID == id })
	if i < 0 {
		return Expectation{}, fmt.Errorf("%w: %s in %s", ErrNotFound, id, f.path)
	}
	e, err := endAt(list[i], at, by)
	if err != nil {
		return Expectation{}, err
	}
	list[i] = e
	return e, f.write(list)
}

// fileEntry is the written form of one declaration.
type fileEntry struct {
	ID          string   `yaml:"id"`
	Account     string   `yaml:"account"`
	Reason      string   `yaml:"reason"`
	By          string   `yaml:"by"`
	Start       string   `yaml:"start"`
	Ends        string   `yaml:"ends"`
	Rules       []string `yaml:"rules,omitempty"`
	SourceCIDRs []string `yaml:"source_cidrs,omitempty"`
	EndedBy     string   `yaml:"ended_by,omitempty"`
}

const fileHeader = "# Planned root use (rootwatch expect add/list/end; ROOTWATCH_EXPECTATIONS).\n"

// write replaces the file with list, minus what ended more than Retention
// ago.
func (f *File) write(list []Expectation) error {
	cut := f.now().Add(-Retention)
	doc := struct {
		Expectations []fileEntry `yaml:"expectations"`
	}{Expectations: []fileEntry{}}
	for _, e := range list {
		if e.Ends.Before(cut) {
			continue
		}
		fe := fileEntry{
			ID: e.ID, Account: e.Account, Reason: e.Reason, By: e.By, Rules: e.Rules, EndedBy: e.EndedBy,
			Start: e.Start.UTC().Format(time.RFC3339), Ends: e.Ends.UTC().Format(time.RFC3339),
		}
		for _, p := range e.SourceCIDRs {
			fe.SourceCIDRs = append(fe.SourceCIDRs, p.String())
		}
		doc.Expectations = append(doc.Expectations, fe)
	}
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("expectations: encode: %w", err)
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".*")
	if err != nil {
		return fmt.Errorf("expectations: write %s: %w", f.path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: already gone
	if _, err := tmp.Write(append([]byte(fileHeader), body.Bytes()...)); err != nil {
		tmp.Close()
		return fmt.Errorf("expectations: write %s: %w", f.path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("expectations: write %s: %w", f.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("expectations: write %s: %w", f.path, err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("expectations: write %s: %w", f.path, err)
	}
	f.stamp = fileStamp{} // read back on the next List
	return nil
}

// Parse parses a declarations file; name is used in errors, each of which
// names the file and line and wraps ErrInvalid. An empty document holds no
// declarations.
func Parse(name string, data []byte) ([]Expectation, error) {
	p := parser{file: name}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrInvalid, name, MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
		}
		return nil, p.errf(extra.Line, "only one YAML document is allowed")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, nil
	}
	kv, err := p.mapping(root, "file", "expectations")
	if err != nil {
		return nil, err
	}
	var out []Expectation
	for _, pair := range kv {
		v := pair[1]
		if isNull(v) {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			return nil, p.errf(v.Line, "expectations must be a list")
		}
		if len(v.Content) > MaxFileEntries {
			return nil, p.errf(v.Line, "more than %d expectations", MaxFileEntries)
		}
		seen := map[string]int{}
		for _, n := range v.Content {
			e, err := p.entry(n)
			if err != nil {
				return nil, err
			}
			if line, dup := seen[e.ID]; dup {
				return nil, p.errf(n.Line, "id %q already used at line %d", e.ID, line)
			}
			seen[e.ID] = n.Line
			out = append(out, e)
		}
	}
	return out, nil
}

type parser struct{ file string }

// detail is a validation error's message without the ErrInvalid prefix.
func detail(err error) string { return strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ") }

func (p *parser) errf(line int, format string, a ...any) error {
	return fmt.Errorf("%w: %s:%d: %s", ErrInvalid, p.file, line, fmt.Sprintf(format, a...))
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// plain rejects aliases, anchors and merge keys (expansion bombs).
func (p *parser) plain(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return p.errf(n.Line, "YAML anchors and aliases are not supported")
	}
	if n.Tag == "!!merge" {
		return p.errf(n.Line, "YAML merge keys are not supported")
	}
	return nil
}

func (p *parser) mapping(n *yaml.Node, what string, allowed ...string) ([][2]*yaml.Node, error) {
	if err := p.plain(n); err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n.Line, "%s must be a mapping", what)
	}
	seen := map[string]bool{}
	var kv [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := p.plain(k); err != nil {
			return nil, err
		}
		if err := p.plain(v); err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k.Line, "%s: keys must be strings", what)
		}
		if !slices.Contains(allowed, k.Value) {
			return nil, p.errf(k.Line, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
		}
		if seen[k.Value] {
			return nil, p.errf(k.Line, "%s: duplicate key %q", what, k.Value)
		}
		seen[k.Value] = true
		kv = append(kv, [2]*yaml.Node{k, v})
	}
	return kv, nil
}

func (p *parser) scalar(n *yaml.Node, what string) (string, error) {
	if err := p.plain(n); err != nil {
		return "", err
	}
	if n.Kind != yaml.ScalarNode || isNull(n) || strings.TrimSpace(n.Value) == "" {
		return "", p.errf(n.Line, "%s must be a non-empty string", what)
	}
	return n.Value, nil
}

func (p *parser) list(n *yaml.Node, what string) ([]*yaml.Node, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n.Line, "%s must be a list", what)
	}
	if len(n.Content) > MaxListLen {
		return nil, p.errf(n.Line, "%s: more than %d entries", what, MaxListLen)
	}
	return n.Content, nil
}

func (p *parser) entry(n *yaml.Node) (Expectation, error) {
	var e Expectation
	kv, err := p.mapping(n, "expectation", "id", "account", "reason", "by", "start", "ends", "for", "rules", "source_cidrs", "ended_by")
	if err != nil {
		return e, err
	}
	var dur time.Duration
	var durLine, endsLine int
	for _, pair := range kv {
		k, v := pair[0], pair[1]
		if k.Value == "rules" || k.Value == "source_cidrs" {
			items, err := p.list(v, k.Value)
			if err != nil {
				return e, err
			}
			for _, it := range items {
				s, err := p.scalar(it, k.Value+" entry")
				if err != nil {
					return e, err
				}
				if k.Value == "rules" {
					if !ruleRE.MatchString(s) {
						return e, p.errf(it.Line, "rule %q: want letters, digits, '.', '_' and '-'", s)
					}
					e.Rules = append(e.Rules, s)
					continue
				}
				c, err := ParseCIDR(s)
				if err != nil {
					return e, p.errf(it.Line, "%s", detail(err))
				}
				e.SourceCIDRs = append(e.SourceCIDRs, c)
			}
			continue
		}
		s, err := p.scalar(v, k.Value)
		if err != nil {
			return e, err
		}
		switch k.Value {
		case "id":
			e.ID = s
		case "account":
			e.Account = s
		case "reason":
			e.Reason = s
		case "by":
			e.By = s
		case "ended_by":
			e.EndedBy = s
		case "start", "ends":
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return e, p.errf(v.Line, "%s %q: want an RFC 3339 time such as 2026-11-20T09:00:00Z", k.Value, s)
			}
			if k.Value == "start" {
				e.Start = t.UTC()
			} else {
				e.Ends, endsLine = t.UTC(), v.Line
			}
		case "for":
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return e, p.errf(v.Line, "for %q: want a positive duration such as 2h or 90m", s)
			}
			dur, durLine = d, v.Line
		}
	}
	switch {
	case durLine > 0 && endsLine > 0:
		return e, p.errf(durLine, "give either ends or for, not both")
	case durLine > 0:
		e.Ends = e.Start.Add(dur)
	}
	for _, req := range []struct {
		ok   bool
		name string
	}{{e.ID != "", "id"}, {e.Account != "", "account"}, {e.Reason != "", "reason"}, {e.By != "", "by"}, {!e.Start.IsZero(), "start"}, {!e.Ends.IsZero(), "ends (or for)"}} {
		if !req.ok {
			return e, p.errf(n.Line, "expectation: %s is required", req.name)
		}
	}
	if err := e.Validate(); err != nil {
		return e, p.errf(n.Line, "%s", detail(err))
	}
	return e, nil
}
