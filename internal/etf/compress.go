package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// inflate reads the rest of a COMPRESSED_EXT (u32 size, zlib stream) and returns the inflated term
// and a function that releases its buffer. The declared size is checked against max first, and the
// buffer grows with what the stream actually yields (never to the declared size up front), so a
// frame that lies about its size costs no more than its stream holds.
func inflate(b []byte, max int) ([]byte, func(), error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: compressed term without its size", ErrTruncated)
	}
	size := binary.BigEndian.Uint32(b)
	if uint64(size) > uint64(max) {
		return nil, nil, fmt.Errorf("%w: compressed term declares %d bytes, the limit is %d", ErrTooLarge, size, max)
	}
	z := inflaters.Get().(*inflater)
	release := func() {
		if z.out.Cap() <= 64<<10 {
			inflaters.Put(z)
		}
	}
	z.in.Reset(b[4:])
	z.out.Reset()
	var err error
	if z.r == nil {
		z.r, err = zlib.NewReader(&z.in)
	} else {
		err = z.r.(zlib.Resetter).Reset(&z.in, nil)
	}
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("%w: bad zlib stream: %v", ErrMalformed, err)
	}
	// One byte more than declared shows a stream that inflates beyond its declared size.
	_, err = io.Copy(&z.out, io.LimitReader(z.r, int64(size)+1))
	if err != nil && !errors.Is(err, io.EOF) {
		release()
		return nil, nil, fmt.Errorf("%w: bad zlib stream: %v", ErrMalformed, err)
	}
	if z.out.Len() != int(size) {
		n := z.out.Len()
		release()
		return nil, nil, fmt.Errorf("%w: compressed term declares %d bytes and inflates to %d or more", ErrMalformed, size, n)
	}
	if z.in.Len() != 0 {
		release()
		return nil, nil, fmt.Errorf("%w: %d bytes after the compressed stream", ErrTrailing, z.in.Len())
	}
	return z.out.Bytes(), release, nil
}

type inflater struct {
	in  bytes.Reader
	out bytes.Buffer
	r   io.ReadCloser
}

var inflaters = sync.Pool{New: func() any { return &inflater{} }}

// deflate appends the zlib stream of b at level to dst.
func deflate(dst, b []byte, level int) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w, err := zlib.NewWriterLevel(buf, level)
	if err != nil {
		return dst, err
	}
	if _, err := w.Write(b); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}
