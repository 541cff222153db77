package sigma

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Options control how Parse loads a rule.
type Options struct {
	// Placeholders holds the values of the placeholders that values with the
	// expand modifier name ("%bucket%"), by name without the percent signs.
	// A name with several values expands to all of them (ORed, or ANDed
	// with the all modifier). Values are literal text: "*" and "?" in them
	// are not wildcards.
	Placeholders map[string][]string
}

// maxExpandedValues bounds the values one field gets from placeholder
// expansion (the product of the value counts of its placeholders).
const maxExpandedValues = 4096

// placeholderRE matches one %name% placeholder. A percent sign that does not
// start such a name is literal text.
var placeholderRE = regexp.MustCompile(`%([A-Za-z0-9_.-]+)%`)

// ValidPlaceholderName reports whether name can be used as %name% in a rule.
func ValidPlaceholderName(name string) bool { return placeholderNameRE.MatchString(name) }

var placeholderNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// expansion is the result of expanding one value template.
type expansion struct {
	texts      []string // the expanded values as text, for display
	globs      []Glob   // the expanded values as patterns
	undefined  []string // placeholders of the template without a value
	placeholds []string // every placeholder the template names
}

// expand expands the placeholders of a value template written with the
// expand modifier. The template's own text keeps its wildcards; placeholder
// values are literal. When a placeholder has no value, undefined names it
// and nothing is expanded.
func (p *parser) expand(tmpl string) (expansion, error) {
	var ex expansion
	locs := placeholderRE.FindAllStringSubmatchIndex(tmpl, -1)
	if len(locs) == 0 {
		return expansion{texts: []string{tmpl}, globs: []Glob{ParseGlob(tmpl)}}, nil
	}
	type seg struct {
		lit  string // template text before the placeholder
		name string
	}
	segs := make([]seg, 0, len(locs))
	prev, total := 0, 1
	for _, l := range locs {
		name := tmpl[l[2]:l[3]]
		segs = append(segs, seg{lit: tmpl[prev:l[0]], name: name})
		prev = l[1]
		ex.placeholds = append(ex.placeholds, name)
		vals, ok := p.opts.Placeholders[name]
		if !ok || len(vals) == 0 {
			ex.undefined = append(ex.undefined, name)
			continue
		}
		total *= len(vals)
		if total > maxExpandedValues {
			return ex, fmt.Errorf("placeholders expand to more than %d values", maxExpandedValues)
		}
	}
	tail := tmpl[prev:]
	if len(ex.undefined) > 0 {
		return ex, nil
	}
	idx := make([]int, len(segs)) // one value index per placeholder, odometer order
	for {
		var text strings.Builder
		var g Glob
		for i, s := range segs {
			v := p.opts.Placeholders[s.name][idx[i]]
			text.WriteString(s.lit)
			text.WriteString(v)
			g = appendGlob(g, ParseGlob(s.lit))
			g = appendGlob(g, LiteralGlob(v))
		}
		text.WriteString(tail)
		g = appendGlob(g, ParseGlob(tail))
		ex.texts = append(ex.texts, text.String())
		ex.globs = append(ex.globs, g)
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(p.opts.Placeholders[segs[i].name]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return ex, nil
		}
	}
}

// appendGlob appends b to a, merging adjacent literal runs and collapsing
// consecutive stars, as ParseGlob does.
func appendGlob(a, b Glob) Glob {
	for _, part := range b {
		if n := len(a); n > 0 {
			last := &a[n-1]
			if part.Kind == Literal && last.Kind == Literal {
				last.Lit += part.Lit
				continue
			}
			if part.Kind == Star && last.Kind == Star {
				continue
			}
		}
		a = append(a, part)
	}
	return a
}

// resolvePlaceholders applies the rule's undefined-placeholder policy once
// the whole rule is parsed (the rootwatch extension may follow the
// detection). See Rule.Unresolved.
func (p *parser) resolvePlaceholders(r *Rule) error {
	if len(p.undefined) == 0 {
		return nil
	}
	names := make([]string, 0, len(p.undefined))
	for name := range p.undefined {
		names = append(names, name)
	}
	sort.Strings(names)
	r.Unresolved = names
	if r.UnresolvedLevel == 0 {
		first := names[0]
		for _, n := range names {
			if p.undefined[n] < p.undefined[first] {
				first = n
			}
		}
		return p.errf(p.undefined[first], "placeholder %%%s%% has no value (define it where the rules are loaded, or give the rule a rootwatch: {unresolved_level: ...} fallback)", first)
	}
	// With no placeholder of the rule defined, the rule cannot be scoped: its
	// placeholder values match any value, at the fallback level. With some
	// defined, the undefined ones name nothing to watch and match nothing.
	r.Unscoped = len(p.defined) == 0
	if r.Unscoped {
		r.Level = r.UnresolvedLevel
	}
	for _, sel := range r.Detection {
		for _, m := range sel.Maps {
			for _, fm := range m.Matches {
				kept := fm.Values[:0]
				dropped := false
				for _, v := range fm.Values {
					if v.Placeholder == "" {
						kept = append(kept, v)
						continue
					}
					if r.Unscoped {
						v.Glob = Glob{{Kind: Star}}
						kept = append(kept, v)
					} else {
						dropped = true
					}
				}
				fm.Values = kept
				// With all, every value must match: one that matches nothing
				// makes the whole match fail (dropping it would widen it).
				if len(kept) == 0 || (fm.All && dropped) {
					fm.Values, fm.Never = nil, true
				}
			}
		}
	}
	return nil
}
