package sigma

import "strings"

// Wildcard is the kind of one Glob part.
type Wildcard uint8

// Glob part kinds.
const (
	// Literal is a run of literal text.
	Literal Wildcard = iota
	// Star is "*": any sequence of characters, including none.
	Star
	// Question is "?": exactly one character (one UTF-8 sequence).
	Question
)

// GlobPart is one element of a Glob.
type GlobPart struct {
	// Kind says whether the part is literal text or a wildcard.
	Kind Wildcard
	// Lit is the literal text of a Literal part, escapes resolved.
	Lit string
}

// Glob is a Sigma wildcard pattern: literal runs, "*" and "?". Adjacent
// literal runs are merged and consecutive stars collapsed.
type Glob []GlobPart

// ParseGlob parses a Sigma string value with wildcards. "*" and "?" are
// wildcards; a backslash escapes a following "*", "?" or backslash; any
// other backslash is literal (so Windows paths need no doubling), as in
// the Sigma specification.
func ParseGlob(s string) Glob {
	var g Glob
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			g = append(g, GlobPart{Kind: Literal, Lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
				lit.WriteByte(s[i+1])
				i++
				continue
			}
			lit.WriteByte(c)
		case '*':
			flush()
			if len(g) == 0 || g[len(g)-1].Kind != Star {
				g = append(g, GlobPart{Kind: Star})
			}
		case '?':
			flush()
			g = append(g, GlobPart{Kind: Question})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return g
}

// LiteralGlob returns a Glob matching exactly s, without wildcard parsing.
func LiteralGlob(s string) Glob {
	if s == "" {
		return nil
	}
	return Glob{{Kind: Literal, Lit: s}}
}

// HasWildcards reports whether g contains "*" or "?".
func (g Glob) HasWildcards() bool {
	for _, p := range g {
		if p.Kind != Literal {
			return true
		}
	}
	return false
}

// Literal returns the concatenated literal text of g (wildcards dropped).
// For a Glob without wildcards it is the exact value to compare with.
func (g Glob) Literal() string {
	if len(g) == 1 && g[0].Kind == Literal {
		return g[0].Lit
	}
	var b strings.Builder
	for _, p := range g {
		if p.Kind == Literal {
			b.WriteString(p.Lit)
		}
	}
	return b.String()
}

// String renders g back in Sigma syntax, escaping literal "*", "?" and
// backslashes that would otherwise be read as escapes.
func (g Glob) String() string {
	var b strings.Builder
	for _, p := range g {
		switch p.Kind {
		case Star:
			b.WriteByte('*')
		case Question:
			b.WriteByte('?')
		default:
			for i := 0; i < len(p.Lit); i++ {
				c := p.Lit[i]
				if c == '*' || c == '?' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}
