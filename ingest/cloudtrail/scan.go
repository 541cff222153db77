package cloudtrail

import (
	"encoding/binary"
	"math/bits"
)

// maxDepth is encoding/json's nesting limit; deeper input is rejected as
// encoding/json rejects it.
const maxDepth = 10000

// scanStatus is what one call of scanner.scan found.
type scanStatus uint8

const (
	scanDone     scanStatus = iota // the value ended; the index is just past it
	scanMore                       // the buffer ended inside the value
	scanMismatch                   // a closing bracket does not match the open one
	scanDeep                       // nesting deeper than maxDepth
)

// structural marks the bytes that matter outside strings.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

const (
	lsb   = 0x0101010101010101
	msb   = 0x8080808080808080
	quote = '"' * lsb
)

// scanner finds the end of one JSON value (an object, an array or a
// string) by tracking strings, escapes and bracket nesting. It is resumable:
// when the buffer ends inside the value, scan returns scanMore and a later
// call continues where it stopped, over a buffer that may have been
// compacted (indices are passed in, not kept).
//
// It checks structure only (strings, escapes, matching brackets, depth);
// the content of scalars, colons and commas inside the value are validated
// downstream by a full parser. Any value it reports as done is delimited
// exactly as encoding/json would delimit it, if that value is valid JSON.
type scanner struct {
	stack []byte // open brackets of the current value, innermost last
	base  int    // nesting depth outside the value, for the maxDepth limit
	inStr bool   // inside a string
}

// reset prepares s to scan a value whose first byte is b[i] at nesting depth
// base (0 at top level). The first byte itself is consumed by the caller's
// first scan call.
func (s *scanner) reset(base int) {
	s.stack = s.stack[:0]
	s.base = base
	s.inStr = false
}

// scan continues scanning b from index i. It returns the index just past the
// value (scanDone), len(b) (scanMore), or the index of the offending byte.
//
// Inside strings it looks only for '"', eight bytes at a time, and decides
// whether a quote is escaped by counting the backslashes before it: an odd
// run escapes it. The run never extends before the string's opening quote,
// which the caller keeps in b across refills, so no escape state is carried
// between calls.
func (s *scanner) scan(b []byte, i int) (int, scanStatus) {
	stack := s.stack
	inStr := s.inStr
	n := len(b)
	for {
		if inStr {
			for {
				// A byte equal to '"' makes its lane of x zero; the lowest
				// flagged lane is always a true match.
				for i+8 <= n {
					x := binary.LittleEndian.Uint64(b[i:]) ^ quote
					if m := (x - lsb) &^ x & msb; m != 0 {
						i += bits.TrailingZeros64(m) >> 3
						goto found
					}
					i += 8
				}
				for i < n && b[i] != '"' {
					i++
				}
				if i >= n {
					s.stack, s.inStr = stack, true
					return n, scanMore
				}
			found:
				k := i - 1
				for k >= 0 && b[k] == '\\' {
					k--
				}
				i++
				if (i-k)&1 == 0 { // i-1-k backslashes, an even number
					break
				}
			}
			inStr = false
			if len(stack) == 0 {
				s.stack, s.inStr = stack, false
				return i, scanDone
			}
			continue
		}
		for i < n && !structural[b[i]] {
			i++
		}
		if i >= n {
			s.stack, s.inStr = stack, false
			return n, scanMore
		}
		switch c := b[i]; c {
		case '"':
			inStr = true
		case '{', '[':
			if s.base+len(stack) >= maxDepth {
				s.stack = stack
				return i, scanDeep
			}
			stack = append(stack, c)
		default: // '}' or ']'
			if len(stack) == 0 || stack[len(stack)-1] != c-2 { // '{'+2 == '}', '['+2 == ']'
				s.stack = stack
				return i, scanMismatch
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				s.stack, s.inStr = stack, false
				return i + 1, scanDone
			}
		}
		i++
	}
}
