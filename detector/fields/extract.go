package fields

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of objects and arrays accepted, the same
// limit as encoding/json's.
const maxDepth = 10000

// Extractor extracts the values of compiled paths from records. It keeps
// scratch buffers between calls, so that extraction allocates nothing in the
// steady state. It is not safe for concurrent use.
type Extractor struct {
	p     *Paths
	vals  []Value
	buf   []byte // unescaped string values of the current record
	kbuf  []byte // the unescaped key being compared
	stack []byte // closing brackets of the containers being skipped
}

// Extract walks rec once and returns the value of every compiled path, in
// compile order (len == Paths.Len()). It returns a *SyntaxError if rec is
// not exactly one valid JSON object, optionally surrounded by whitespace;
// skipped values are validated too. The returned slice and the B slices in
// it point into rec or into the Extractor, and are valid until the next
// call.
func (x *Extractor) Extract(rec []byte) ([]Value, error) {
	clear(x.vals)
	x.buf = x.buf[:0]
	i := skipWS(rec, 0)
	if i >= len(rec) {
		return nil, syntaxErr(i, "unexpected end of JSON input")
	}
	if rec[i] != '{' {
		return nil, syntaxErr(i, "record is not a JSON object (starts with %s)", quoteChar(rec[i]))
	}
	root := x.p.root
	var err error
	if len(root.kids) > 0 {
		i, err = x.object(rec, i, root, 0)
	} else {
		i, err = x.skipContainer(rec, i, 0)
	}
	if err != nil {
		return nil, err
	}
	i = skipWS(rec, i)
	if i < len(rec) {
		return nil, syntaxErr(i, "invalid character %s after top-level value", quoteChar(rec[i]))
	}
	return x.vals, nil
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(rec []byte, i int) int {
	for ; i < len(rec); i++ {
		switch rec[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// ws is skipWS with the common no-whitespace case inlined at call sites.
func ws(rec []byte, i int) int {
	if i < len(rec) && rec[i] > ' ' {
		return i
	}
	return skipWS(rec, i)
}

// object parses the object at rec[i] (which is '{'), extracting the
// children of n. depth is the number of containers already open around it.
// It returns the index after the closing brace.
func (x *Extractor) object(rec []byte, i int, n *node, depth int) (int, error) {
	if depth >= maxDepth {
		return 0, syntaxErr(i, "exceeded max nesting depth %d", maxDepth)
	}
	depth++
	i = ws(rec, i+1)
	if i < len(rec) && rec[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(rec) {
			return 0, syntaxErr(i, "unexpected end of JSON input in object")
		}
		if rec[i] != '"' {
			return 0, syntaxErr(i, "invalid character %s looking for beginning of object key string", quoteChar(rec[i]))
		}
		e, esc, err := scanString(rec, i)
		if err != nil {
			return 0, err
		}
		key := rec[i+1 : e-1]
		if esc || (n.repl && !utf8.Valid(key)) {
			x.kbuf = appendUnquoted(x.kbuf[:0], key)
			key = x.kbuf
		}
		c := n.child(key)
		i = ws(rec, e)
		if i >= len(rec) {
			return 0, syntaxErr(i, "unexpected end of JSON input after object key")
		}
		if rec[i] != ':' {
			return 0, syntaxErr(i, "invalid character %s after object key", quoteChar(rec[i]))
		}
		i = ws(rec, i+1)
		if c != nil {
			x.reset(c)
			i, err = x.value(rec, i, c, depth)
		} else if i < len(rec) && rec[i] == '"' {
			i, _, err = scanString(rec, i) // the common case, inlined
		} else {
			i, err = x.skip(rec, i, depth)
		}
		if err != nil {
			return 0, err
		}
		i = ws(rec, i)
		if i >= len(rec) {
			return 0, syntaxErr(i, "unexpected end of JSON input in object")
		}
		switch rec[i] {
		case ',':
			i = ws(rec, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, syntaxErr(i, "invalid character %s after object key:value pair", quoteChar(rec[i]))
		}
	}
}

// reset clears every path at or below n: a later duplicate key replaces
// the whole earlier value, as in encoding/json.
func (x *Extractor) reset(n *node) {
	for _, p := range n.leaves {
		x.vals[p] = Value{}
	}
	for _, p := range n.below {
		x.vals[p] = Value{}
	}
}

// value parses the value at rec[i], the value of the key leading to n.
func (x *Extractor) value(rec []byte, i int, n *node, depth int) (int, error) {
	if i >= len(rec) {
		return 0, syntaxErr(i, "unexpected end of JSON input looking for value")
	}
	var (
		v   Value
		e   int
		err error
	)
	switch c := rec[i]; c {
	case '"':
		var esc bool
		e, esc, err = scanString(rec, i)
		if err != nil {
			return 0, err
		}
		v.Kind = KindString
		v.B = rec[i+1 : e-1 : e-1]
		if esc || !isASCII(v.B) && !utf8.Valid(v.B) {
			s := len(x.buf)
			x.buf = appendUnquoted(x.buf, v.B)
			v.B = x.buf[s:len(x.buf):len(x.buf)]
		}
	case '{':
		if len(n.kids) > 0 {
			e, err = x.object(rec, i, n, depth)
		} else {
			e, err = x.skipContainer(rec, i, depth)
		}
		if err != nil {
			return 0, err
		}
		v.Kind = KindObject
		v.B = rec[i:e:e]
	case '[':
		e, err = x.skipContainer(rec, i, depth)
		if err != nil {
			return 0, err
		}
		v.Kind = KindArray
		v.B = rec[i:e:e]
		for _, p := range n.below {
			x.vals[p] = Value{Kind: KindArray, B: v.B, Rest: x.p.lens[p] - n.depth}
		}
	case 't', 'f':
		lit := "true"
		if c == 'f' {
			lit = "false"
		}
		if e, err = literal(rec, i, lit); err != nil {
			return 0, err
		}
		v.Kind = KindBool
		v.B = rec[i:e:e]
	case 'n':
		if e, err = literal(rec, i, "null"); err != nil {
			return 0, err
		}
		v.Kind = KindNull
	default:
		if c != '-' && (c < '0' || c > '9') {
			return 0, syntaxErr(i, "invalid character %s looking for beginning of value", quoteChar(c))
		}
		if e, err = scanNumber(rec, i); err != nil {
			return 0, err
		}
		v.Kind = KindNumber
		v.B = rec[i:e:e]
	}
	for _, p := range n.leaves {
		x.vals[p] = v
	}
	return e, nil
}

// isASCII reports whether b holds only ASCII bytes, which are valid UTF-8.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&highs != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// skip validates and skips the value at rec[i], with depth containers
// already open around it. It returns the index after the value.
func (x *Extractor) skip(rec []byte, i int, depth int) (int, error) {
	if i >= len(rec) {
		return 0, syntaxErr(i, "unexpected end of JSON input looking for value")
	}
	switch c := rec[i]; c {
	case '"':
		e, _, err := scanString(rec, i)
		return e, err
	case '{', '[':
		return x.skipContainer(rec, i, depth)
	case 't':
		return literal(rec, i, "true")
	case 'f':
		return literal(rec, i, "false")
	case 'n':
		return literal(rec, i, "null")
	default:
		if c != '-' && (c < '0' || c > '9') {
			return 0, syntaxErr(i, "invalid character %s looking for beginning of value", quoteChar(c))
		}
		return scanNumber(rec, i)
	}
}

// skipContainer validates and skips the object or array at rec[i], with
// depth containers already open around it, using an explicit stack instead
// of recursion. It returns the index after the closing bracket.
func (x *Extractor) skipContainer(rec []byte, i int, depth int) (int, error) {
	st := x.stack[:0]
	n := len(rec)
	var err error
open:
	for {
		// rec[i] is '{' or '[': open it.
		if depth+len(st) >= maxDepth {
			return 0, syntaxErr(i, "exceeded max nesting depth %d", maxDepth)
		}
		c := rec[i]
		i = ws(rec, i+1)
		if i >= n {
			return 0, syntaxErr(i, "unexpected end of JSON input")
		}
		after := false
		if c == '{' {
			if rec[i] == '}' {
				i++
				after = true
			} else {
				st = append(st, '}')
				if i, err = skipKey(rec, i); err != nil {
					return 0, err
				}
			}
		} else {
			if rec[i] == ']' {
				i++
				after = true
			} else {
				st = append(st, ']')
			}
		}
		for {
			if !after {
				// A value starts at rec[i] (whitespace already skipped).
				if i >= n {
					return 0, syntaxErr(i, "unexpected end of JSON input looking for value")
				}
				switch c := rec[i]; c {
				case '{', '[':
					continue open
				case '"':
					i, _, err = scanString(rec, i)
				case 't':
					i, err = literal(rec, i, "true")
				case 'f':
					i, err = literal(rec, i, "false")
				case 'n':
					i, err = literal(rec, i, "null")
				default:
					if c != '-' && (c < '0' || c > '9') {
						return 0, syntaxErr(i, "invalid character %s looking for beginning of value", quoteChar(c))
					}
					i, err = scanNumber(rec, i)
				}
				if err != nil {
					return 0, err
				}
			}
			after = false
			// A value ended at i: close containers until a comma.
			for {
				if len(st) == 0 {
					x.stack = st // keep the grown stack for the next record
					return i, nil
				}
				i = ws(rec, i)
				if i >= n {
					return 0, syntaxErr(i, "unexpected end of JSON input")
				}
				top := st[len(st)-1]
				c := rec[i]
				if c == ',' {
					i = ws(rec, i+1)
					if top == '}' {
						if i, err = skipKey(rec, i); err != nil {
							return 0, err
						}
					}
					break
				}
				if c != top {
					if top == '}' {
						return 0, syntaxErr(i, "invalid character %s after object key:value pair", quoteChar(c))
					}
					return 0, syntaxErr(i, "invalid character %s after array element", quoteChar(c))
				}
				i++
				st = st[:len(st)-1]
			}
		}
	}
}

// skipKey validates an object key and its colon at rec[i] and returns the
// index of the value after it (whitespace skipped).
func skipKey(rec []byte, i int) (int, error) {
	if i >= len(rec) {
		return 0, syntaxErr(i, "unexpected end of JSON input in object")
	}
	if rec[i] != '"' {
		return 0, syntaxErr(i, "invalid character %s looking for beginning of object key string", quoteChar(rec[i]))
	}
	i, _, err := scanString(rec, i)
	if err != nil {
		return 0, err
	}
	i = ws(rec, i)
	if i >= len(rec) {
		return 0, syntaxErr(i, "unexpected end of JSON input after object key")
	}
	if rec[i] != ':' {
		return 0, syntaxErr(i, "invalid character %s after object key", quoteChar(rec[i]))
	}
	return ws(rec, i+1), nil
}

// literal checks that rec[i:] starts with lit and returns the index after it.
func literal(rec []byte, i int, lit string) (int, error) {
	for k := 1; k < len(lit); k++ {
		j := i + k
		if j >= len(rec) {
			return 0, syntaxErr(j, "unexpected end of JSON input in literal %s", lit)
		}
		if rec[j] != lit[k] {
			return 0, syntaxErr(j, "invalid character %s in literal %s", quoteChar(rec[j]), lit)
		}
	}
	return i + len(lit), nil
}

// scanNumber validates the number at rec[i] (which is '-' or a digit) and
// returns the index after it.
func scanNumber(rec []byte, i int) (int, error) {
	n := len(rec)
	j := i
	if rec[j] == '-' {
		j++
		if j >= n {
			return 0, syntaxErr(j, "unexpected end of JSON input in numeric literal")
		}
	}
	switch c := rec[j]; {
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		j++
		for j < n && rec[j] >= '0' && rec[j] <= '9' {
			j++
		}
	default:
		return 0, syntaxErr(j, "invalid character %s in numeric literal", quoteChar(c))
	}
	if j < n && rec[j] == '.' {
		j++
		if j >= n {
			return 0, syntaxErr(j, "unexpected end of JSON input after decimal point in numeric literal")
		}
		if rec[j] < '0' || rec[j] > '9' {
			return 0, syntaxErr(j, "invalid character %s after decimal point in numeric literal", quoteChar(rec[j]))
		}
		for j < n && rec[j] >= '0' && rec[j] <= '9' {
			j++
		}
	}
	if j < n && (rec[j] == 'e' || rec[j] == 'E') {
		j++
		if j < n && (rec[j] == '+' || rec[j] == '-') {
			j++
		}
		if j >= n {
			return 0, syntaxErr(j, "unexpected end of JSON input in exponent of numeric literal")
		}
		if rec[j] < '0' || rec[j] > '9' {
			return 0, syntaxErr(j, "invalid character %s in exponent of numeric literal", quoteChar(rec[j]))
		}
		for j < n && rec[j] >= '0' && rec[j] <= '9' {
			j++
		}
	}
	return j, nil
}

// strStop marks the bytes that end the fast part of a string scan: the
// quote, the backslash and the control characters.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	quotes = '"' * ones
	slashs = '\\' * ones
	spaces = ' ' * ones
)

// stopMask returns a word whose lowest set bit is the high bit of the first
// byte of v (little-endian) that is a quote, a backslash or below 0x20, and
// zero if there is none. Bits above the first hit may be spurious (borrows),
// so only the lowest one is meaningful.
func stopMask(v uint64) uint64 {
	q := v ^ quotes
	b := v ^ slashs
	return ((q-ones)&^q | (b-ones)&^b | (v-spaces)&^v) & highs
}

// scanString validates the string at rec[i] (which is '"') and returns the
// index after its closing quote, and whether it contains escapes.
//
// The fast path, small enough to be inlined, handles a string without
// escapes whose closing quote is at least eight bytes before the end of rec;
// scanStringFrom handles the rest.
func scanString(rec []byte, i int) (end int, esc bool, err error) {
	j := i + 1
	for j+8 <= len(rec) {
		if m := stopMask(binary.LittleEndian.Uint64(rec[j:])); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if rec[j] == '"' {
				return j + 1, false, nil
			}
			break
		}
		j += 8
	}
	return scanStringFrom(rec, j, false)
}

// scanStringFrom continues scanString at rec[j], inside a string; esc says
// whether an escape was already seen.
func scanStringFrom(rec []byte, j int, esc bool) (end int, escaped bool, err error) {
	n := len(rec)
	for {
		// Eight bytes at a time while they hold no quote, backslash or
		// control character, then byte by byte near the end of rec.
		if j+8 <= n {
			m := stopMask(binary.LittleEndian.Uint64(rec[j:]))
			if m == 0 {
				j += 8
				continue
			}
			j += bits.TrailingZeros64(m) >> 3
		} else {
			for j < n && !strStop[rec[j]] {
				j++
			}
			if j >= n {
				return 0, false, syntaxErr(j, "unexpected end of JSON input in string")
			}
		}
		switch rec[j] {
		case '"':
			return j + 1, esc, nil
		case '\\':
			esc = true
			j++
			if j >= n {
				return 0, false, syntaxErr(j, "unexpected end of JSON input in string escape")
			}
			switch rec[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				j++
				for k := 0; k < 4; k++ {
					if j >= n {
						return 0, false, syntaxErr(j, "unexpected end of JSON input in \\u escape")
					}
					if hexVal(rec[j]) < 0 {
						return 0, false, syntaxErr(j, "invalid character %s in \\u hexadecimal character escape", quoteChar(rec[j]))
					}
					j++
				}
			default:
				return 0, false, syntaxErr(j, "invalid character %s in string escape code", quoteChar(rec[j]))
			}
		default:
			return 0, false, syntaxErr(j, "invalid control character %s in string literal", quoteChar(rec[j]))
		}
	}
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// hex4 decodes the four hex digits at s[0:4], already validated.
func hex4(s []byte) rune {
	return hexVal(s[0])<<12 | hexVal(s[1])<<8 | hexVal(s[2])<<4 | hexVal(s[3])
}

// appendUnquoted appends to dst the string contents s (between the quotes,
// already validated by scanString) unescaped exactly as encoding/json does:
// a \u surrogate pair becomes one rune, a lone surrogate and every byte of
// invalid UTF-8 becomes U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch e := s[r+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(s[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						if d := utf16.DecodeRune(rr, hex4(s[r+2:])); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							r += 6
							continue
						}
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			if rr == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, rr)
			} else {
				dst = append(dst, s[r:r+size]...)
			}
			r += size
		}
	}
	return dst
}
