package cloudtrail

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

const (
	// blockSize is the size of one read-ahead block of decompressed bytes,
	// and the initial size of a decoder's buffer.
	blockSize = 1 << 20
	// readAhead is the number of blocks the decompressor may fill before
	// the decoder consumes them.
	readAhead = 3
)

// blockPool recycles the 1 MiB blocks and decoder buffers.
var blockPool = sync.Pool{New: func() any {
	b := make([]byte, blockSize)
	return &b
}}

// gzipPool recycles gzip readers (each holds a 32 KiB window and tables).
var gzipPool sync.Pool

func getBlock() []byte { return *(blockPool.Get().(*[]byte)) }

func putBlock(b []byte) {
	if cap(b) != blockSize {
		return
	}
	b = b[:blockSize]
	blockPool.Put(&b)
}

// eofReader is an empty flate.Reader (it has ReadByte, so gzip.Reader.Reset
// wraps it in no buffer).
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
func (eofReader) ReadByte() (byte, error)  { return 0, io.EOF }

// block is one filled read-ahead buffer. err, when set, is the terminal
// error that follows the block's bytes.
type block struct {
	buf []byte
	err error
}

// trackingReader remembers the first error of the underlying reader other
// than io.EOF, so that I/O failures can be told apart from gzip corruption,
// and counts the compressed bytes read (for the compression-ratio guard).
type trackingReader struct {
	r   io.Reader
	err error
	n   int64
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// ratioGuard refuses a stream that inflates to more than max times the
// compressed bytes read, once min bytes were inflated.
type ratioGuard struct {
	max float64
	min int64
}

// check returns an ErrCompressionRatio error when out decompressed bytes
// from in compressed bytes break the guard.
func (g ratioGuard) check(out, in int64) error {
	if out < g.min || float64(out) <= g.max*float64(max(in, 1)) {
		return nil
	}
	return fmt.Errorf("%w: %d bytes inflated from %d compressed bytes (%.0f:1, the limit is %g:1); refusing a likely decompression bomb",
		ErrCompressionRatio, out, in, float64(out)/float64(max(in, 1)), g.max)
}

// inflater decompresses a gzip stream in its own goroutine into a few
// reused blocks passed over a channel, so that decompression overlaps with
// record splitting. It is an io.Reader for the decoder; its errors are
// already classified (ErrGzip, ErrTruncated, I/O) but not yet wrapped in
// *Error.
type inflater struct {
	full     chan block
	free     chan []byte
	done     chan struct{}
	finished chan struct{}
	src      *trackingReader

	cur    []byte // unread part of the current block
	curBuf []byte // the current block, to recycle
	err    error  // terminal error, after cur is drained
	closed bool
}

// newInflater starts decompressing r (whose first bytes are the gzip magic).
// limit bounds the decompressed bytes produced: the goroutine stops after
// limit bytes and reports io.EOF, so the decoder can tell a too-large
// stream (it asks for limit+1).
//
// The goroutine also enforces guard after each block, so a bomb is refused
// after about guard.min decompressed bytes, whatever its full size.
func newInflater(r io.Reader, limit int64, guard ratioGuard) *inflater {
	f := &inflater{
		full:     make(chan block, readAhead),
		free:     make(chan []byte, readAhead),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
		src:      &trackingReader{r: r},
	}
	for range readAhead {
		f.free <- getBlock()
	}
	go f.run(limit, guard)
	return f
}

// run is the decompressing goroutine. It exits after sending a block with a
// terminal error, or when done is closed.
func (f *inflater) run(limit int64, guard ratioGuard) {
	defer close(f.finished)
	var zr *gzip.Reader
	if v, ok := gzipPool.Get().(*gzip.Reader); ok {
		zr = v
		if err := zr.Reset(f.src); err != nil {
			_ = zr.Reset(eofReader{})
			gzipPool.Put(zr)
			f.send(block{err: f.classify(err)})
			return
		}
	} else {
		var err error
		if zr, err = gzip.NewReader(f.src); err != nil {
			f.send(block{err: f.classify(err)})
			return
		}
	}
	defer func() {
		// Drop the reference to the caller's reader before pooling; the
		// header error this causes is expected.
		_ = zr.Reset(eofReader{})
		gzipPool.Put(zr)
	}()
	zr.Multistream(true)
	lr := &io.LimitedReader{R: zr, N: limit}
	for {
		var buf []byte
		select {
		case buf = <-f.free:
		case <-f.done:
			return
		}
		n, err := fill(lr, buf)
		if err != nil {
			err = f.classify(err)
		} else {
			err = guard.check(limit-lr.N, f.src.n)
		}
		if !f.send(block{buf: buf[:n], err: err}) || err != nil {
			return
		}
	}
}

// send hands b to the decoder; false when the decoder is closing.
func (f *inflater) send(b block) bool {
	select {
	case f.full <- b:
		return true
	case <-f.done:
		if b.buf != nil {
			putBlock(b.buf)
		}
		return false
	}
}

// fill reads from r until buf is full or r fails.
func fill(r io.Reader, buf []byte) (int, error) {
	n, zeros := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			if zeros++; zeros > 100 {
				return n, io.ErrNoProgress
			}
		}
	}
	return n, nil
}

// classify turns a gzip reader error into the decoder's vocabulary.
func (f *inflater) classify(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case f.src.err != nil && errors.Is(err, f.src.err):
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: read: %w", ErrTruncated, err)
		}
		return fmt.Errorf("read: %w", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w: %w", ErrTruncated, ErrGzip, err)
	}
	// gzip.ErrHeader, gzip.ErrChecksum, flate.CorruptInputError, ...
	return fmt.Errorf("%w: %w", ErrGzip, err)
}

// Read copies decompressed bytes into p; after the last block it returns
// the terminal error.
func (f *inflater) Read(p []byte) (int, error) {
	for len(f.cur) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		if f.curBuf != nil {
			f.free <- f.curBuf // never blocks: there are only readAhead blocks
			f.curBuf = nil
		}
		b := <-f.full
		f.cur, f.err = b.buf, b.err
		if b.buf != nil {
			f.curBuf = b.buf
		}
	}
	n := copy(p, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}

// close stops the goroutine, waits for it, and recycles the blocks. If the
// goroutine is inside a Read of the underlying reader, close waits for that
// Read to return. Safe to call more than once.
func (f *inflater) close() {
	if f.closed {
		return
	}
	f.closed = true
	close(f.done)
	<-f.finished
	if f.curBuf != nil {
		putBlock(f.curBuf)
		f.curBuf, f.cur = nil, nil
	}
	for {
		select {
		case b := <-f.full:
			if b.buf != nil {
				putBlock(b.buf)
			}
		case b := <-f.free:
			putBlock(b)
		default:
			if f.err == nil {
				f.err = errClosed
			}
			return
		}
	}
}
