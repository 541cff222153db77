package engine

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/rootwatch/rootwatch/detector/fields"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// matchKind is how a compiled value compares with a field's text.
type matchKind uint8

const (
	mNull     matchKind = iota // field absent or JSON null
	mEq                        // text == lit
	mPrefix                    // text starts with lit
	mSuffix                    // text ends with lit
	mContains                  // text contains lit
	mAny                       // any present scalar ("*")
	mGlob                      // wildcard pattern compiled to a regexp
	mRegexp                    // user regexp on the raw text
	mCIDR                      // IP address inside prefix
	mNumber                    // numeric comparison
	mFieldRef                  // compare with another field's value (refOp)
)

// cvalue is one rule value compiled for fast matching.
type cvalue struct {
	kind  matchKind
	lit   []byte         // mEq..mContains: lowercased unless cased
	re    *regexp.Regexp // mGlob (over lowered text unless cased), mRegexp (raw text)
	pfx   netip.Prefix   // mCIDR
	num   float64        // mNumber
	numOp sigma.Op       // mNumber: OpGT, OpGTE, OpLT or OpLTE
	cased bool           // compare raw text instead of lowered text
	ref   int            // mFieldRef: the referenced field's path index
	refOp matchKind      // mFieldRef: mEq, mPrefix, mSuffix or mContains
	// objects says whether the value also applies to object (and nested
	// array) values through their raw JSON text: true only for contains
	// and re, the comparisons that make sense on JSON text.
	objects bool
}

// leaf is one concrete value of a field: the field's own value, or one
// element reached through arrays.
type leaf struct {
	kind  fields.Kind
	raw   []byte
	lower []byte
	low   bool // lower is computed
	// nested marks a string found inside an object value; only the
	// comparisons that apply to objects (contains, re) consider it.
	nested bool
}

// compileValue turns one sigma value into a matcher.
func compileValue(fm *sigma.FieldMatch, v *sigma.Value) (cvalue, error) {
	cv := cvalue{cased: fm.Cased}
	if v.Kind == sigma.ValueNull {
		cv.kind = mNull
		return cv, nil
	}
	switch fm.Op {
	case sigma.OpRegexp:
		cv.kind, cv.re, cv.objects = mRegexp, v.Regexp, true
		return cv, nil
	case sigma.OpCIDR:
		cv.kind, cv.pfx = mCIDR, v.Prefix
		return cv, nil
	case sigma.OpGT, sigma.OpGTE, sigma.OpLT, sigma.OpLTE:
		cv.kind, cv.num, cv.numOp = mNumber, v.Number, fm.Op
		return cv, nil
	case sigma.OpEquals, sigma.OpContains, sigma.OpStartsWith, sigma.OpEndsWith:
	default:
		return cv, fmt.Errorf("operator %v cannot compare values", fm.Op)
	}
	cv.objects = fm.Op == sigma.OpContains
	// Build the full pattern with the implied wildcards, then look for a
	// fast path: literal, prefix, suffix, contains or anything.
	g := make(sigma.Glob, 0, len(v.Glob)+2)
	if fm.Op == sigma.OpContains || fm.Op == sigma.OpEndsWith {
		g = append(g, sigma.GlobPart{Kind: sigma.Star})
	}
	for _, p := range v.Glob {
		if p.Kind == sigma.Star && len(g) > 0 && g[len(g)-1].Kind == sigma.Star {
			continue
		}
		g = append(g, p)
	}
	if (fm.Op == sigma.OpContains || fm.Op == sigma.OpStartsWith) && (len(g) == 0 || g[len(g)-1].Kind != sigma.Star) {
		g = append(g, sigma.GlobPart{Kind: sigma.Star})
	}
	lit := func(s string) []byte {
		if fm.Cased {
			return []byte(s)
		}
		return appendLower(nil, []byte(s))
	}
	shape := make([]sigma.Wildcard, len(g))
	for i, p := range g {
		shape[i] = p.Kind
	}
	L, S := sigma.Literal, sigma.Star
	switch {
	case len(g) == 0:
		cv.kind, cv.lit = mEq, []byte{}
	case eqShape(shape, L):
		cv.kind, cv.lit = mEq, lit(g[0].Lit)
	case eqShape(shape, L, S):
		cv.kind, cv.lit = mPrefix, lit(g[0].Lit)
	case eqShape(shape, S, L):
		cv.kind, cv.lit = mSuffix, lit(g[1].Lit)
	case eqShape(shape, S, L, S):
		cv.kind, cv.lit = mContains, lit(g[1].Lit)
	case eqShape(shape, S):
		cv.kind = mAny
	default:
		var b bytes.Buffer
		b.WriteString(`(?s)^`)
		for _, p := range g {
			switch p.Kind {
			case sigma.Star:
				b.WriteString(`.*`)
			case sigma.Question:
				b.WriteString(`.`)
			default:
				b.WriteString(regexp.QuoteMeta(string(lit(p.Lit))))
			}
		}
		b.WriteString(`$`)
		re, err := regexp.Compile(b.String())
		if err != nil {
			return cv, fmt.Errorf("compile wildcard pattern %q: %w", v.Text, err)
		}
		cv.kind, cv.re = mGlob, re
	}
	return cv, nil
}

func eqShape(got []sigma.Wildcard, want ...sigma.Wildcard) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// match reports whether the value matches one leaf. The leaf caches its
// lowered text, which lives in the scratch's arena.
func (cv *cvalue) match(l *leaf, s *scratch) bool {
	if cv.kind == mNull {
		return l.kind == fields.KindAbsent || l.kind == fields.KindNull
	}
	if l.nested && !cv.objects {
		return false
	}
	switch l.kind {
	case fields.KindString, fields.KindNumber, fields.KindBool:
	case fields.KindObject, fields.KindArray:
		if !cv.objects {
			return false
		}
	default:
		return false
	}
	text := l.raw
	switch cv.kind {
	case mRegexp:
		return cv.re.Match(l.raw)
	case mCIDR:
		if l.kind != fields.KindString {
			return false
		}
		addr, err := netip.ParseAddr(string(l.raw))
		if err != nil {
			return false
		}
		return cv.pfx.Contains(addr.Unmap()) || cv.pfx.Contains(addr)
	case mNumber:
		if l.kind != fields.KindNumber && l.kind != fields.KindString {
			return false
		}
		f, err := strconv.ParseFloat(string(l.raw), 64)
		if err != nil {
			return false
		}
		switch cv.numOp {
		case sigma.OpGT:
			return f > cv.num
		case sigma.OpGTE:
			return f >= cv.num
		case sigma.OpLT:
			return f < cv.num
		default:
			return f <= cv.num
		}
	case mAny:
		return true
	case mFieldRef:
		return cv.matchRef(l, s)
	}
	if !cv.cased {
		if !l.low {
			l.lower = s.lower(l.raw)
			l.low = true
		}
		text = l.lower
	}
	switch cv.kind {
	case mEq:
		return bytes.Equal(text, cv.lit)
	case mPrefix:
		return bytes.HasPrefix(text, cv.lit)
	case mSuffix:
		return bytes.HasSuffix(text, cv.lit)
	case mContains:
		return bytes.Contains(text, cv.lit)
	case mGlob:
		return cv.re.Match(text)
	}
	return false
}

// matchRef compares a leaf with the value of the referenced field, which
// must be a string, number or bool (an absent, null, object or array
// reference matches nothing).
func (cv *cvalue) matchRef(l *leaf, s *scratch) bool {
	if l.kind == fields.KindObject || l.kind == fields.KindArray {
		return false
	}
	ref := &s.vals[cv.ref]
	switch ref.Kind {
	case fields.KindString, fields.KindNumber, fields.KindBool:
	default:
		return false
	}
	text, want := l.raw, ref.B
	if !cv.cased {
		if !l.low {
			l.lower, l.low = s.lower(l.raw), true
		}
		text, want = l.lower, s.lower(ref.B)
	}
	switch cv.refOp {
	case mPrefix:
		return bytes.HasPrefix(text, want)
	case mSuffix:
		return bytes.HasSuffix(text, want)
	case mContains:
		return bytes.Contains(text, want)
	default:
		return bytes.Equal(text, want)
	}
}

// appendLower appends the lower-case form of b to dst: ASCII letters are
// lowered directly, other runes with unicode.ToLower, and bytes that are
// not valid UTF-8 are copied unchanged. Rule literals and record values
// are lowered with this same function, which defines rootwatch's
// case-insensitive comparison.
func appendLower(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += size
	}
	return dst
}

// lower returns the lowered form of b: b itself when lowering changes
// nothing (the common case), else a copy in the per-record arena.
func (s *scratch) lower(b []byte) []byte {
	changed := false
	for _, c := range b {
		if ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf {
			changed = true
			break
		}
	}
	if !changed {
		return b
	}
	start := len(s.lowArena)
	s.lowArena = appendLower(s.lowArena, b)
	return s.lowArena[start:len(s.lowArena):len(s.lowArena)]
}

// isASCII reports whether s has only ASCII bytes.
func isASCII(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
