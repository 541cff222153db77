package fields

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the JSON type of an extracted value. The zero value, KindAbsent,
// means the path is not present in the record.
type Kind uint8

// The kinds of extracted values.
const (
	// KindAbsent means the path does not exist in the record, or it passes
	// through a value that is neither an object nor an array.
	KindAbsent Kind = iota
	// KindNull is the JSON literal null.
	KindNull
	// KindString is a JSON string; Value.B holds the unescaped bytes.
	KindString
	// KindNumber is a JSON number; Value.B holds its literal text.
	KindNumber
	// KindBool is true or false; Value.B holds the literal text.
	KindBool
	// KindObject is a JSON object; Value.B holds its raw JSON text.
	KindObject
	// KindArray is a JSON array; Value.B holds its raw JSON text.
	KindArray
)

var kindNames = [...]string{
	KindAbsent: "absent",
	KindNull:   "null",
	KindString: "string",
	KindNumber: "number",
	KindBool:   "bool",
	KindObject: "object",
	KindArray:  "array",
}

// String returns the lower-case name of the kind ("absent", "string", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is the value found at one path of a record.
type Value struct {
	// Kind is the JSON type found, or KindAbsent.
	Kind Kind
	// B holds, for a string, its unescaped bytes; for a number or a bool, its
	// literal text ("12.5", "true"); for null, nil; for an object or an
	// array, its raw JSON text.
	B []byte
	// Rest is greater than zero when the path met an array before its last
	// key. Kind is then KindArray, B is that array's raw JSON text, and Rest
	// is how many keys of the path remain to be resolved inside each of its
	// elements.
	Rest int
}

// Paths is a compiled set of key paths. It is immutable and safe for
// concurrent use; each goroutine extracts with its own [Extractor].
type Paths struct {
	root *node
	lens []int // number of keys of each path
}

// node is one trie node: the object reached after depth keys.
type node struct {
	sigs []uint32 // keySig of each child key, checked before comparing
	keys []string // child keys, parallel to sigs and kids
	kids []*node
	// table is an open-addressing hash table over sigs: slot h holds a
	// child index plus one, or zero when empty. Its length is a power of
	// two at least twice the number of children.
	table  []uint16
	shift  uint8 // 32 - log2(len(table)), to take the hash's top bits
	leaves []int // indexes of the paths that end at this node
	below  []int // indexes of the paths that continue below this node
	depth  int
	// repl is set when a child key contains U+FFFD, which a raw key with
	// invalid UTF-8 can match once decoded; only then are raw keys checked
	// for valid UTF-8.
	repl bool
}

// child returns the child whose key equals key, or nil.
func (n *node) child(key []byte) *node {
	sig := keySig(key)
	mask := uint32(len(n.table) - 1)
	for h := (sig * 0x9e3779b1) >> n.shift; ; h++ {
		k := int(n.table[h&mask])
		if k == 0 {
			return nil
		}
		if n.sigs[k-1] == sig && n.keys[k-1] == string(key) {
			return n.kids[k-1]
		}
	}
}

// maxKids is the most children a node's hash table can index.
const maxKids = 1<<15 - 1

// build fills the hash tables of n and the nodes below it.
func (n *node) build() error {
	if len(n.kids) > maxKids {
		return fmt.Errorf("%d different keys below one object, at most %d are supported", len(n.kids), maxKids)
	}
	size, shift := 2, uint8(31)
	for size < 2*len(n.kids) {
		size, shift = size*2, shift-1
	}
	n.table, n.shift = make([]uint16, size), shift
	mask := uint32(size - 1)
	for i, sig := range n.sigs {
		h := (sig * 0x9e3779b1) >> shift
		for n.table[h&mask] != 0 {
			h++
		}
		n.table[h&mask] = uint16(i + 1)
	}
	for _, k := range n.kids {
		if err := k.build(); err != nil {
			return err
		}
	}
	return nil
}

// keySig packs a key's length and its first and last bytes, which tell
// apart most keys of an object without a full comparison.
func keySig[T string | []byte](key T) uint32 {
	if len(key) == 0 {
		return 0
	}
	return uint32(len(key))<<16 | uint32(key[0])<<8 | uint32(key[len(key)-1])
}

// Compile builds the trie of paths. paths[i] is a key sequence such as
// {"userIdentity", "type"}; the values that [Extractor.Extract] returns are
// in the same order. Duplicate paths and paths that are prefixes of others
// are allowed. An empty path is an error.
func Compile(paths [][]string) (*Paths, error) {
	p := &Paths{root: &node{}, lens: make([]int, len(paths))}
	type edge struct {
		from *node
		key  string
	}
	edges := make(map[edge]*node)
	for i, path := range paths {
		if len(path) == 0 {
			return nil, fmt.Errorf("fields: compile path %d: empty path", i)
		}
		p.lens[i] = len(path)
		n := p.root
		for d, key := range path {
			if !utf8.ValidString(key) {
				// A decoded JSON key is always valid UTF-8, so this key
				// never matches. Prefixing it with a quote also keeps it
				// from ever equalling a raw (unescaped) key, which cannot
				// contain a quote, so the hot path needs no extra check.
				key = "\"\xff" + key
			}
			n.below = append(n.below, i)
			next := edges[edge{n, key}]
			if next == nil {
				next = &node{depth: d + 1}
				n.sigs = append(n.sigs, keySig(key))
				n.keys = append(n.keys, key)
				n.repl = n.repl || strings.ContainsRune(key, utf8.RuneError)
				n.kids = append(n.kids, next)
				edges[edge{n, key}] = next
			}
			n = next
		}
		n.leaves = append(n.leaves, i)
	}
	if err := p.root.build(); err != nil {
		return nil, fmt.Errorf("fields: compile: %w", err)
	}
	return p, nil
}

// Len returns the number of paths, which is the length of the slice that
// [Extractor.Extract] returns.
func (p *Paths) Len() int { return len(p.lens) }

// NewExtractor returns an Extractor for p. An Extractor is not safe for
// concurrent use; reuse one per goroutine across records.
func (p *Paths) NewExtractor() *Extractor {
	return &Extractor{p: p, vals: make([]Value, len(p.lens))}
}

// SyntaxError reports that a record is not exactly one valid JSON object.
type SyntaxError struct {
	// Offset is the byte offset in the record at which the problem was
	// found.
	Offset int64
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return "fields: invalid JSON record at byte offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
}

// syntaxErr builds a *SyntaxError. It is kept out of line so that the
// error paths do not bloat the scanning loops.
//
//go:noinline
func syntaxErr(off int, format string, args ...any) error {
	return &SyntaxError{Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
}

// quoteChar formats a byte for an error message the way encoding/json does.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	if c >= utf8.RuneSelf {
		return "byte 0x" + strconv.FormatUint(uint64(c), 16)
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}
