// Package cloudtrail decodes streams of CloudTrail records: log objects as
// CloudTrail writes them to S3 ({"Records":[...]}, usually gzipped), JSON
// Lines of records, EventBridge events whose detail is a CloudTrail record,
// and the output of `aws cloudtrail lookup-events` ({"Events":[...]}). It yields one record's raw JSON bytes at a time, in bounded
// memory whatever the input size.
//
// The format is decided from the content, never from a name: gzip by its
// magic bytes, and for each top-level JSON object in the (decompressed)
// stream:
//
//   - an object with a "Records" key whose value is an array is a log
//     object: each element of each such array is a record (every element
//     must be an object); the values of other keys are validated and
//     skipped;
//   - an object with an "Events" key whose value is an array is a
//     lookup-events page (one page of the LookupEvents API as the AWS CLI
//     prints it; the pages of a paged call may be concatenated): each
//     element must be an object whose "CloudTrailEvent" string (the last
//     one, as in encoding/json) holds the record's JSON, which is decoded
//     and, without its surrounding whitespace, must be an object; other
//     members (EventId, EventName, NextToken, ...) are validated and
//     skipped. Records and Events arrays may both appear in one object;
//   - otherwise an object with both "digestStartTime" and "digestEndTime"
//     keys is a CloudTrail digest file, which holds no events: Next
//     returns ErrDigestFile, so that it is never taken for a record;
//   - otherwise an object with both "detail-type" and "detail" keys is an
//     EventBridge event: its "detail" value (the last one, as in
//     encoding/json) is the record, and must be an object;
//   - any other object is itself a record (JSON Lines, or concatenated
//     objects separated by optional whitespace).
//
// A top-level value that is not an object (a bare array of records
// included) is rejected with ErrSyntax.
//
// The splitter is a streaming byte scanner that tracks strings, escapes and
// bracket nesting, so it delimits records exactly as encoding/json does. It
// validates everything it does not hand out (the top-level structure, keys,
// skipped values, EventBridge envelopes); the content of each yielded record
// is validated downstream, by the field extractor that parses it anyway.
package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

const (
	// DefaultMaxRecordBytes is the default Options.MaxRecordBytes.
	// CloudTrail events are at most 256 KB; this is generous.
	DefaultMaxRecordBytes = 8 << 20
	// DefaultMaxDecompressedBytes is the default
	// Options.MaxDecompressedBytes: 4 GiB. CloudTrail documents no largest
	// log object; the largest seen are about 100 MB of gzip, 1-2 GB of
	// JSON, so real objects stay well under it, while a bomb just under
	// the ratio bound holds a worker for a few seconds at most (inflating
	// runs at about 1 GB/s).
	DefaultMaxDecompressedBytes = 4 << 30
	// DefaultMaxCompressionRatio is the default Options.MaxCompressionRatio.
	// CloudTrail JSON compresses about 8-10:1 with gzip (generated and
	// sample logs measure 8.3-10.4:1); a log whose records differ only in
	// eventID, requestID and eventTime, the most repetitive a trail
	// writes, measures 16:1. Whitespace or zeros inflate about 1030:1 and
	// duplicated records about 200:1. 100:1 is six times the worst real
	// case and well below any cheap bomb.
	DefaultMaxCompressionRatio = 100
	// RatioCheckMinBytes is how many bytes must have been inflated before
	// the compression ratio is checked: smaller inputs cannot be bombs, and
	// a bomb is refused after inflating only this much (16 MiB, about
	// 16 KB of compressed input for a 1000:1 bomb).
	RatioCheckMinBytes = 16 << 20
)

// Options configures a Decoder. The zero value is usable.
type Options struct {
	// Source names the object in errors ("s3://bucket/key", a path, "-").
	Source string
	// MaxRecordBytes bounds one record's size (and the size of any
	// skipped top-level value). 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int64
	// MaxDecompressedBytes bounds the total decompressed input (the input
	// itself when it is not gzip), which protects against gzip bombs. 0
	// means DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int64
	// MaxCompressionRatio bounds, for gzip input, the decompressed bytes
	// per compressed byte read, once RatioCheckMinBytes were inflated. 0
	// means DefaultMaxCompressionRatio.
	MaxCompressionRatio float64
}

type state uint8

const (
	stTop       state = iota // before a top-level value
	stElem                   // in a Records array, before an element (or ']' if first)
	stAfterElem              // in a Records array, after an element
)

// Decoder reads records from a stream. It is not safe for concurrent use.
// Call Close when done with it (it may own a decompressing goroutine).
type Decoder struct {
	r        io.Reader
	source   string
	maxRec   int64
	maxTotal int64
	maxRatio float64
	initSize int // initial buffer size (tests use tiny buffers)

	started bool
	src     io.Reader // plain: r; gzip: inf
	inf     *inflater
	srcErr  error // io.EOF or *Error, returned once the buffer is drained
	err     error // sticky result of Next

	buf    []byte
	pooled bool  // buf came from blockPool
	pos    int   // next byte to scan
	end    int   // end of valid data in buf
	keep   int   // first byte that compaction must retain
	base   int64 // decompressed offset of buf[0]
	total  int64 // decompressed bytes read so far

	state state
	first bool // stElem: no element yet in this array
	sc    scanner

	// The current top-level object. Indices are adjusted on compaction.
	inLog         bool  // it has a Records or Events array: records are streamed
	events        bool  // the array being streamed is a lookup-events Events array
	recAbs        int64 // decompressed offset of the last record returned
	objAbs        int64 // decompressed offset of its '{'
	objStart      int   // index of its '{' (meaningful while !inLog)
	keyStart      int
	keyEnd        int
	valStart      int
	lastValEnd    int // end of the last member value (while !inLog)
	hasMembers    bool
	hasDetail     bool
	hasDetailType bool
	digestKeys    uint8 // digestStartTime (1) and digestEndTime (2) seen
	detailStart   int
	detailEnd     int
	scratch       []byte
}

// NewDecoder returns a Decoder reading from r. Nothing is read until the
// first call of Next; the input is gzip when it starts with the gzip magic
// bytes 1f 8b (concatenated gzip members are one stream), plain JSON
// otherwise.
func NewDecoder(r io.Reader, opts Options) *Decoder {
	d := &Decoder{
		r:        r,
		source:   opts.Source,
		maxRec:   opts.MaxRecordBytes,
		maxTotal: opts.MaxDecompressedBytes,
		maxRatio: opts.MaxCompressionRatio,
		initSize: blockSize,
	}
	if d.maxRatio <= 0 {
		d.maxRatio = DefaultMaxCompressionRatio
	}
	if d.maxRec <= 0 {
		d.maxRec = DefaultMaxRecordBytes
	}
	if d.maxTotal <= 0 {
		d.maxTotal = DefaultMaxDecompressedBytes
	}
	return d
}

// Next returns the next record's JSON object bytes, from its '{' to its
// matching '}'. The slice points into the decoder's buffer and is valid
// until the next call of Next or Close. After the last record Next returns
// io.EOF; any other error is an *Error naming the source and the
// decompressed offset, wrapping ErrSyntax, ErrTruncated, ErrGzip,
// ErrRecordTooLarge, ErrTooLarge, ErrCompressionRatio or the reader's error. Every complete
// record before a damaged part of the input is returned before the error.
// Once Next has returned an error it keeps returning it.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	if !d.started {
		d.start()
	}
	rec, err := d.next()
	if err != nil {
		d.err = err
		d.release()
		return nil, err
	}
	return rec, nil
}

// Offset returns the number of decompressed bytes consumed so far: after a
// record, the offset just past its closing brace.
func (d *Decoder) Offset() int64 { return d.base + int64(d.pos) }

// RecordOffset returns the decompressed offset at which the last record
// returned by Next starts: its '{', or for a lookup-events page the '{' of
// the Events element that carried it. Errors about a record name it.
func (d *Decoder) RecordOffset() int64 { return d.recAbs }

// Close stops the read-ahead goroutine, if any, and releases the buffers;
// the last record returned by Next is invalid afterwards. If that goroutine
// is blocked reading the underlying reader, Close waits for the read to
// return (close the underlying reader first to abort it). Close does not
// close the reader given to NewDecoder. It is safe to call more than once,
// and always returns nil.
func (d *Decoder) Close() error {
	d.release()
	if d.err == nil {
		d.err = &Error{Source: d.source, Offset: d.Offset(), Err: errClosed}
	}
	return nil
}

// release stops decompression and recycles the buffers.
func (d *Decoder) release() {
	if d.inf != nil {
		d.inf.close()
	}
	if d.pooled {
		putBlock(d.buf)
	}
	d.buf, d.pooled = nil, false
	d.base += int64(d.pos) // keeps Offset
	d.pos, d.end, d.keep = 0, 0, 0
}

// start allocates the buffer and sniffs the gzip magic bytes.
func (d *Decoder) start() {
	d.started = true
	if d.initSize == blockSize {
		d.buf, d.pooled = getBlock(), true
	} else {
		d.buf = make([]byte, d.initSize)
	}
	var magic [2]byte
	n, err := io.ReadFull(d.r, magic[:])
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		limit := d.maxTotal
		if limit < math.MaxInt64 {
			limit++ // one byte more, to tell "exactly the limit" from "over"
		}
		d.inf = newInflater(io.MultiReader(bytes.NewReader(magic[:]), d.r), limit,
			ratioGuard{max: d.maxRatio, min: RatioCheckMinBytes})
		d.src = d.inf
		return
	}
	d.src = d.r
	copy(d.buf, magic[:n])
	d.account(n, nil)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if d.srcErr == nil {
			d.srcErr = io.EOF
		}
	case err != nil:
		d.account(0, err)
	}
}

// account adds n freshly read bytes at d.end and records the reader's
// error, enforcing MaxDecompressedBytes.
func (d *Decoder) account(n int, err error) {
	d.end += n
	d.total += int64(n)
	if d.total > d.maxTotal {
		d.end -= int(d.total - d.maxTotal)
		d.total = d.maxTotal
		d.srcErr = &Error{Source: d.source, Offset: d.maxTotal,
			Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, d.maxTotal)}
		return
	}
	if err == nil || d.srcErr != nil {
		return
	}
	if err == io.EOF {
		d.srcErr = io.EOF
		return
	}
	if d.inf == nil { // the inflater classifies its own errors
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: read: %w", ErrTruncated, err)
		} else {
			err = fmt.Errorf("read: %w", err)
		}
	}
	d.srcErr = &Error{Source: d.source, Offset: d.base + int64(d.end), Err: err}
}

// more reads more input into the buffer, compacting it (keeping
// buf[keep:]) or growing it as needed. It returns io.EOF at the clean end
// of input and an *Error for anything else.
func (d *Decoder) more() error {
	if d.srcErr != nil {
		return d.srcErr
	}
	retained := d.end - d.keep
	if int64(retained) >= d.maxRec {
		return d.tooLarge(d.keep)
	}
	if free := len(d.buf) - d.end; free < len(d.buf)/2 || free == 0 {
		bufMax := max(d.maxRec, int64(d.initSize))
		if retained > len(d.buf)/2 && int64(len(d.buf)) < bufMax {
			nb := make([]byte, min(2*int64(len(d.buf)), bufMax))
			copy(nb, d.buf[d.keep:d.end])
			if d.pooled {
				putBlock(d.buf)
			}
			d.buf, d.pooled = nb, false
		} else if d.keep > 0 {
			copy(d.buf, d.buf[d.keep:d.end])
		}
		d.shift(d.keep)
	}
	before := d.end
	var (
		n   int
		err error
	)
	for tries := 0; n == 0 && err == nil; tries++ {
		if tries == 100 {
			err = io.ErrNoProgress
			break
		}
		n, err = d.src.Read(d.buf[d.end:])
	}
	d.account(n, err)
	if d.end > before {
		return nil
	}
	return d.srcErr
}

// checkSize enforces MaxRecordBytes on the value buf[start:d.pos].
func (d *Decoder) checkSize(start int) error {
	if int64(d.pos-start) > d.maxRec {
		return d.tooLarge(start)
	}
	return nil
}

// tooLarge reports that the value starting at buf[start] is over
// MaxRecordBytes.
func (d *Decoder) tooLarge(start int) error {
	off := d.base + int64(start)
	return &Error{Source: d.source, Offset: off,
		Err: fmt.Errorf("%w: value starting at byte %d is over %d bytes", ErrRecordTooLarge, off, d.maxRec)}
}

// shift accounts for moving buf[k:] to buf[0:].
func (d *Decoder) shift(k int) {
	if k == 0 {
		return
	}
	d.base += int64(k)
	d.pos -= k
	d.end -= k
	d.keep -= k
	d.objStart -= k
	d.keyStart -= k
	d.keyEnd -= k
	d.valStart -= k
	d.lastValEnd -= k
	d.detailStart -= k
	d.detailEnd -= k
}

// next is Next without the sticky error handling.
func (d *Decoder) next() ([]byte, error) {
	for {
		switch d.state {
		case stTop:
			c, err := d.skipWS(true)
			if err != nil {
				return nil, err // io.EOF here is the clean end
			}
			if c != '{' {
				return nil, d.syntax(d.pos, "expected a JSON object at top level, found %s", describe(c))
			}
			d.beginObject()
			if rec, err := d.object(false); rec != nil || err != nil {
				return rec, err
			}
		case stElem:
			c, err := d.skipWS(true)
			if err != nil {
				return nil, d.inObject(err)
			}
			if c == ']' && d.first {
				d.pos++
				if rec, err := d.object(true); rec != nil || err != nil {
					return rec, err
				}
				continue
			}
			if c != '{' {
				if d.events {
					return nil, d.syntax(d.pos, "expected an event object in Events, found %s", describe(c))
				}
				return nil, d.syntax(d.pos, "expected a record object in Records, found %s", describe(c))
			}
			d.first = false
			d.keep = d.pos
			if err := d.scanValue(2, "record"); err != nil {
				return nil, err
			}
			if err := d.checkSize(d.keep); err != nil {
				return nil, err
			}
			d.state = stAfterElem
			d.recAbs = d.base + int64(d.keep)
			if d.events {
				return d.event(d.keep, d.pos)
			}
			return d.buf[d.keep:d.pos], nil
		case stAfterElem:
			c, err := d.skipWS(true)
			if err != nil {
				return nil, d.inObject(err)
			}
			switch c {
			case ',':
				d.pos++
				d.state = stElem
			case ']':
				d.pos++
				if rec, err := d.object(true); rec != nil || err != nil {
					return rec, err
				}
			default:
				return nil, d.syntax(d.pos, "expected ',' or ']' after a record, found %s", describe(c))
			}
		}
	}
}

// beginObject starts a top-level object at d.pos.
func (d *Decoder) beginObject() {
	d.objStart = d.pos
	d.objAbs = d.base + int64(d.pos)
	d.keep = d.pos
	d.inLog = false
	d.hasMembers, d.hasDetail, d.hasDetailType = false, false, false
	d.digestKeys = 0
	d.pos++
}

// object parses the members of the current top-level object. It returns a
// record when the object is itself one (or carries one in "detail"), and
// (nil, nil) when it entered a Records array (state stElem) or ended a log
// object (state stTop). afterValue says a member value was just consumed.
func (d *Decoder) object(afterValue bool) ([]byte, error) {
	first := !afterValue
	for {
		if afterValue {
			c, err := d.skipWS(d.inLog)
			if err != nil {
				return nil, d.inObject(err)
			}
			switch c {
			case ',':
				d.pos++
			case '}':
				d.pos++
				return d.endObject()
			default:
				return nil, d.syntax(d.pos, "expected ',' or '}' after an object member, found %s", describe(c))
			}
		}
		c, err := d.skipWS(d.inLog)
		if err != nil {
			return nil, d.inObject(err)
		}
		if c == '}' && first {
			d.pos++
			return d.endObject()
		}
		if c != '"' {
			return nil, d.syntax(d.pos, "expected a string key, found %s", describe(c))
		}
		first = false
		d.keyStart = d.pos
		if d.inLog {
			d.keep = d.pos
		}
		if err := d.scanValue(1, "key"); err != nil {
			return nil, err
		}
		d.keyEnd = d.pos
		if c, err = d.skipWS(false); err != nil {
			return nil, d.inObject(err)
		}
		if c != ':' {
			return nil, d.syntax(d.pos, "expected ':' after an object key, found %s", describe(c))
		}
		d.pos++
		if c, err = d.skipWS(false); err != nil {
			return nil, d.inObject(err)
		}
		name := d.keyName(d.buf[d.keyStart:d.keyEnd])
		if c == '[' && (string(name) == "Records" || string(name) == "Events") {
			if err := d.enterLog(); err != nil {
				return nil, err
			}
			d.events = string(name) == "Events"
			d.pos++
			d.keep = d.pos
			d.state, d.first = stElem, true
			return nil, nil
		}
		d.valStart = d.pos
		if err := d.skipValue(c); err != nil {
			return nil, err
		}
		if d.inLog {
			if err := d.checkSize(d.keyStart); err != nil {
				return nil, err
			}
			if err := d.validate(d.keyStart, d.keyEnd); err != nil {
				return nil, err
			}
			if err := d.validate(d.valStart, d.pos); err != nil {
				return nil, err
			}
			d.keep = d.pos
		} else {
			switch string(name) {
			case "detail":
				d.hasDetail, d.detailStart, d.detailEnd = true, d.valStart, d.pos
			case "detail-type":
				d.hasDetailType = true
			case "digestStartTime":
				d.digestKeys |= 1
			case "digestEndTime":
				d.digestKeys |= 2
			}
			d.hasMembers, d.lastValEnd = true, d.pos
		}
		afterValue = true
	}
}

// enterLog switches the current object to log mode at its Records array,
// validating the members seen before it (which are then dropped).
func (d *Decoder) enterLog() error {
	if d.inLog {
		return d.validate(d.keyStart, d.keyEnd)
	}
	if d.hasMembers {
		d.scratch = append(append(d.scratch[:0], d.buf[d.objStart:d.lastValEnd]...), '}')
		if !json.Valid(d.scratch) {
			return d.invalid(d.scratch, d.objAbs, "object member before Records")
		}
	}
	if err := d.validate(d.keyStart, d.keyEnd); err != nil {
		return err
	}
	d.inLog = true
	return nil
}

// endObject finishes the current top-level object, just past its '}'.
func (d *Decoder) endObject() ([]byte, error) {
	d.state = stTop
	if d.inLog {
		d.inLog = false
		d.keep = d.pos
		return nil, nil
	}
	if err := d.checkSize(d.objStart); err != nil {
		return nil, err
	}
	obj := d.buf[d.objStart:d.pos]
	if !d.hasDetail || !d.hasDetailType {
		if d.digestKeys == 3 {
			if !json.Valid(obj) {
				return nil, d.invalid(obj, d.objAbs, "object")
			}
			return nil, &Error{Source: d.source, Offset: d.objAbs,
				Err: fmt.Errorf("%w: the object at byte %d has digestStartTime and digestEndTime (skip digest files, or scan the log files they list)", ErrDigestFile, d.objAbs)}
		}
		d.recAbs = d.objAbs
		return obj, nil
	}
	if !json.Valid(obj) {
		return nil, d.invalid(obj, d.objAbs, "EventBridge event")
	}
	if d.buf[d.detailStart] != '{' {
		return nil, d.syntax(d.detailStart, "EventBridge detail is not an object")
	}
	d.recAbs = d.base + int64(d.detailStart)
	return d.buf[d.detailStart:d.detailEnd], nil
}

// event returns the record carried by the lookup-events element
// buf[start:end]: its CloudTrailEvent string, decoded, without the
// surrounding whitespace, in d.scratch. The element is validated with
// encoding/json, whose rules (the last of duplicate keys wins) it follows;
// lookup-events output is small, so this is not on the hot path.
func (d *Decoder) event(start, end int) ([]byte, error) {
	elem := d.buf[start:end]
	off := d.base + int64(start)
	var members map[string]json.RawMessage
	if err := json.Unmarshal(elem, &members); err != nil {
		return nil, d.invalid(elem, off, "lookup-events element")
	}
	raw := members["CloudTrailEvent"]
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return nil, &Error{Source: d.source, Offset: off,
			Err: fmt.Errorf("%w: the lookup-events element at byte %d has no CloudTrailEvent string", ErrSyntax, off)}
	}
	rec := strings.Trim(s, " \t\r\n")
	if len(rec) < 2 || rec[0] != '{' || rec[len(rec)-1] != '}' {
		return nil, &Error{Source: d.source, Offset: off,
			Err: fmt.Errorf("%w: the CloudTrailEvent of the lookup-events element at byte %d is not a JSON object", ErrSyntax, off)}
	}
	d.scratch = append(d.scratch[:0], rec...)
	return d.scratch, nil
}

// keyName returns the key's text (raw is the quoted key). Keys without
// escapes are compared in place; escaped keys are unescaped as
// encoding/json does. An invalid key yields nil (it is rejected by
// validation, or downstream when the object is a record).
func (d *Decoder) keyName(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return []byte(s)
}

// skipValue scans the member value starting with c at d.pos.
func (d *Decoder) skipValue(c byte) error {
	switch {
	case c == '{' || c == '[' || c == '"':
		return d.scanValue(1, "value")
	case !scalarByte[c]:
		return d.syntax(d.pos, "expected a value, found %s", describe(c))
	}
	for {
		for d.pos < d.end && scalarByte[d.buf[d.pos]] {
			d.pos++
		}
		if d.pos < d.end {
			return nil
		}
		if err := d.more(); err != nil {
			return d.inObject(err)
		}
	}
}

// scalarByte marks bytes that can appear in a number or literal.
var scalarByte = func() (t [256]bool) {
	for _, c := range []byte("+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		t[c] = true
	}
	return t
}()

// scanValue scans the object, array or string starting at d.pos, at
// nesting depth base, leaving d.pos just past it.
func (d *Decoder) scanValue(base int, what string) error {
	startAbs := d.base + int64(d.pos)
	d.sc.reset(base)
	for {
		i, st := d.sc.scan(d.buf[:d.end], d.pos)
		d.pos = i
		switch st {
		case scanDone:
			return nil
		case scanMismatch:
			return d.syntax(i, "mismatched %s in %s starting at byte %d", describe(d.buf[i]), what, startAbs)
		case scanDeep:
			return d.syntax(i, "exceeded max depth %d in %s starting at byte %d", maxDepth, what, startAbs)
		}
		if err := d.more(); err != nil {
			if err == io.EOF {
				return &Error{Source: d.source, Offset: d.base + int64(d.end),
					Err: fmt.Errorf("%w: input ended inside %s starting at byte %d", ErrTruncated, what, startAbs)}
			}
			return err
		}
	}
}

// skipWS skips JSON whitespace and returns the next byte without consuming
// it. With discard, the skipped bytes need not be retained.
func (d *Decoder) skipWS(discard bool) (byte, error) {
	for {
		for d.pos < d.end {
			switch c := d.buf[d.pos]; c {
			case ' ', '\n', '\r', '\t':
				d.pos++
			default:
				return c, nil
			}
		}
		if discard {
			d.keep = d.pos
		}
		if err := d.more(); err != nil {
			return 0, err
		}
	}
}

// inObject turns io.EOF inside a top-level object into ErrTruncated.
func (d *Decoder) inObject(err error) error {
	if err != io.EOF {
		return err
	}
	return &Error{Source: d.source, Offset: d.base + int64(d.end),
		Err: fmt.Errorf("%w: input ended inside the object starting at byte %d", ErrTruncated, d.objAbs)}
}

// validate checks that buf[i:j] is valid JSON.
func (d *Decoder) validate(i, j int) error {
	if b := d.buf[i:j]; !json.Valid(b) {
		return d.invalid(b, d.base+int64(i), "value")
	}
	return nil
}

// invalid reports why b, found at offset off, is not valid JSON.
func (d *Decoder) invalid(b []byte, off int64, what string) error {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off += max(se.Offset-1, 0)
	}
	return &Error{Source: d.source, Offset: off, Err: fmt.Errorf("%w: %s: %v", ErrSyntax, what, err)}
}

// syntax reports a syntax error at buffer index i.
func (d *Decoder) syntax(i int, format string, args ...any) error {
	return &Error{Source: d.source, Offset: d.base + int64(i),
		Err: fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)}
}

// describe names byte c for an error message.
func describe(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
