package redisadapter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// A small RESP2 reader for the adapter's own subscription connection (see rawSub). It reads what
// Redis sends a connection in subscribed mode: the three-element arrays of pub/sub (message, subscribe
// confirmations), error replies, and, during the connection's set-up, the simple replies of AUTH and
// CLIENT SETNAME. It is built for the receive path's cost and for hostile input:
//
//   - every length is checked before anything is read or allocated: a message payload over the bound
//     (MaxMessageSize) is skipped with Discard and reported as too large, never allocated, whatever
//     length the frame declares;
//   - a message's channel and payload are handed out as strings over the reader's own buffers, valid
//     until the next call (no allocation per message); whoever keeps them must copy them;
//   - anything that is not RESP2, or a pub/sub array of the wrong shape, is an error (errMalformed):
//     the connection cannot be trusted any further, and the caller replaces it.

const (
	// readBufSize is the size of the bufio.Reader over the connection: a message whose payload fits
	// in it is read in place, a larger one into scratch.
	readBufSize = 64 << 10
	// maxChannelLen bounds a channel name in a message or a confirmation. The adapter subscribes to
	// two channels whose names are far shorter; a longer one is skipped with its payload.
	maxChannelLen = 4 << 10
	// maxSkipLen bounds a bulk string the reader skips (a value of an unexpected reply): Redis's own
	// limit (proto-max-bulk-len). Skipping reads and discards, it never allocates.
	maxSkipLen = 512 << 20
	// maxSkipDepth and maxSkipElems bound the nesting and the size of an unexpected aggregate.
	maxSkipDepth = 4
	maxSkipElems = 1 << 16
)

// errMalformed is the error of a stream that is not the RESP2 the reader expects.
var errMalformed = errors.New("redisadapter: malformed RESP from redis")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

// redisError is an error reply from Redis (-ERR …, -NOAUTH …, -NOPERM …), its text as Redis sent it.
// Like go-redis's own, it has a RedisError method.
type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}

// respReader reads RESP2 from a connection. Not safe for concurrent use.
type respReader struct {
	br         *bufio.Reader
	maxPayload int    // a message payload over this is skipped and reported as too large
	channel    []byte // the channel of the last event (copied: a payload read may move the buffer)
	scratch    []byte // a payload larger than br's buffer; grows to at most maxPayload+2
}

func newRESPReader(r io.Reader, maxPayload int) *respReader {
	return newRESPReaderSize(r, readBufSize, maxPayload)
}

// newRESPReaderSize is newRESPReader with a buffer of bufSize bytes (at least 32; tests use small ones).
func newRESPReaderSize(r io.Reader, bufSize, maxPayload int) *respReader {
	return &respReader{br: bufio.NewReaderSize(r, max(bufSize, 32)), maxPayload: maxPayload}
}

// str returns b as a string without copying: valid only while b is not overwritten.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// line reads one header line (type byte, text, CRLF) and returns it without the CRLF. The slice is
// in br's buffer: valid until the next read.
func (r *respReader) line() ([]byte, error) {
	l, err := r.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, malformed("header line over %d bytes", r.br.Size())
		}
		return nil, err
	}
	if len(l) < 3 || l[len(l)-2] != '\r' {
		return nil, malformed("bad line %q", truncate(l))
	}
	return l[:len(l)-2], nil
}

// parseInt parses a RESP integer (an optional minus sign and at most 18 digits).
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// header reads a header line of type want ('*', '$', ':') and returns its integer. An error reply
// instead is returned as a redisError.
func (r *respReader) header(want byte) (int64, error) {
	l, err := r.line()
	if err != nil {
		return 0, err
	}
	if l[0] == '-' {
		return 0, redisError(string(l[1:]))
	}
	if l[0] != want {
		return 0, malformed("got %q, want a %q header", truncate(l), want)
	}
	n, ok := parseInt(l[1:])
	if !ok {
		return 0, malformed("bad length in %q", truncate(l))
	}
	return n, nil
}

// bulkHeader reads the header of a bulk string and returns its length, which must be 0..max.
func (r *respReader) bulkHeader(max int) (int, bool, error) {
	n, err := r.header('$')
	if err != nil {
		return 0, false, err
	}
	if n < 0 || n > maxSkipLen {
		return 0, false, malformed("bulk length %d", n)
	}
	return int(n), n <= int64(max), nil
}

// skipBulkBody discards a bulk string's n bytes and its CRLF.
func (r *respReader) skipBulkBody(n int) error {
	if _, err := r.br.Discard(n); err != nil {
		return err
	}
	return r.crlf()
}

// crlf reads the CRLF that ends a bulk string.
func (r *respReader) crlf() error {
	b, err := r.br.Peek(2)
	if err != nil {
		return err
	}
	if b[0] != '\r' || b[1] != '\n' {
		return malformed("bulk string not followed by CRLF")
	}
	_, err = r.br.Discard(2)
	return err
}

// shortBulk reads a bulk string of at most max bytes in place: the slice is in br's buffer, valid
// until the next read. ok is false (and the string skipped) when it is longer, or longer than the
// buffer can hold.
func (r *respReader) shortBulk(max int) (b []byte, ok bool, err error) {
	n, fits, err := r.bulkHeader(max)
	if err != nil {
		return nil, false, err
	}
	if !fits || n+2 > r.br.Size() {
		return nil, false, r.skipBulkBody(n)
	}
	p, err := r.br.Peek(n + 2)
	if err != nil {
		return nil, false, err
	}
	if p[n] != '\r' || p[n+1] != '\n' {
		return nil, false, malformed("bulk string not followed by CRLF")
	}
	r.br.Discard(n + 2) // cannot fail: the bytes are buffered
	return p[:n], true, nil
}

// payload reads a message payload of n bytes (n ≤ maxPayload): in place when it fits in the buffer,
// else into scratch. The slice is valid until the next read.
func (r *respReader) payload(n int) ([]byte, error) {
	if n+2 <= r.br.Size() {
		p, err := r.br.Peek(n + 2)
		if err != nil {
			return nil, err
		}
		if p[n] != '\r' || p[n+1] != '\n' {
			return nil, malformed("bulk string not followed by CRLF")
		}
		r.br.Discard(n + 2)
		return p[:n], nil
	}
	if cap(r.scratch) < n+2 {
		r.scratch = make([]byte, n+2, min(max(n+2, 2*cap(r.scratch)), r.maxPayload+2))
	}
	p := r.scratch[:n+2]
	if _, err := io.ReadFull(r.br, p); err != nil {
		return nil, err
	}
	if p[n] != '\r' || p[n+1] != '\n' {
		return nil, malformed("bulk string not followed by CRLF")
	}
	return p[:n], nil
}

// eventKind says what a subscription event is.
type eventKind uint8

const (
	evOther        eventKind = iota // anything else (an unsubscribe confirmation, an unexpected reply): ignored
	evMessage                       // a message: channel and payload
	evTooLarge                      // a message whose payload (size bytes) is over the bound: skipped
	evSubscribed                    // a subscribe confirmation: channel
	evUnsubscribed                  // an unsubscribe confirmation (or a sharded channel's unsubscription by the server): channel
)

// event is one thing read from a subscription.
type event struct {
	kind    eventKind
	owned   bool // channel and payload are strings of their own; else they alias the reader's buffers, valid until the next read
	size    int  // the payload's length (evTooLarge: the length it declared)
	channel string
	payload string
}

// next reads the next event from a connection in subscribed mode. An error reply is returned as a
// redisError, anything that is not well-formed RESP2 as an errMalformed error.
func (r *respReader) next() (event, error) {
	l, err := r.line()
	if err != nil {
		return event{}, err
	}
	switch l[0] {
	case '*':
	case '-':
		return event{}, redisError(string(l[1:]))
	case '+', ':':
		return event{kind: evOther}, nil
	case '$':
		n, ok := parseInt(l[1:])
		if !ok || n < -1 || n > maxSkipLen {
			return event{}, malformed("bad bulk header %q", truncate(l))
		}
		if n >= 0 {
			if err := r.skipBulkBody(int(n)); err != nil {
				return event{}, err
			}
		}
		return event{kind: evOther}, nil
	default:
		return event{}, malformed("unexpected %q", truncate(l))
	}
	n, ok := parseInt(l[1:])
	if !ok || n < -1 || n > maxSkipElems {
		return event{}, malformed("bad array header %q", truncate(l))
	}
	if n != 3 {
		return event{kind: evOther}, r.skipElems(int(n), 1)
	}
	kind, isShort, err := r.shortBulk(16)
	if err != nil {
		return event{}, err
	}
	switch k := str(kind); {
	case isShort && (k == "message" || k == "smessage"):
		return r.message()
	case isShort && (k == "subscribe" || k == "ssubscribe"):
		return r.confirmation(evSubscribed)
	case isShort && (k == "unsubscribe" || k == "sunsubscribe"):
		return r.confirmation(evUnsubscribed)
	default:
		return event{kind: evOther}, r.skipElems(2, 1)
	}
}

// confirmation reads the channel and count of a (un)subscribe confirmation. A channel name too long to
// be one of ours is reported as evOther.
func (r *respReader) confirmation(kind eventKind) (event, error) {
	ch, ok, err := r.channelName()
	if err != nil {
		return event{}, err
	}
	if _, err := r.header(':'); err != nil {
		return event{}, err
	}
	if !ok {
		return event{kind: evOther}, nil
	}
	return event{kind: kind, channel: ch}, nil
}

// message reads the channel and payload of a message.
func (r *respReader) message() (event, error) {
	ch, chOK, err := r.channelName()
	if err != nil {
		return event{}, err
	}
	n, fits, err := r.bulkHeader(r.maxPayload)
	if err != nil {
		return event{}, err
	}
	if !chOK {
		return event{kind: evOther}, r.skipBulkBody(n) // not a channel of ours
	}
	if !fits {
		return event{kind: evTooLarge, size: n, channel: ch}, r.skipBulkBody(n)
	}
	p, err := r.payload(n)
	if err != nil {
		return event{}, err
	}
	return event{kind: evMessage, size: n, channel: ch, payload: str(p)}, nil
}

// channelName reads a channel name into r.channel (a payload read may move br's buffer) and returns
// it as a string over r.channel. A name over maxChannelLen is skipped, and ok is false.
func (r *respReader) channelName() (ch string, ok bool, err error) {
	b, ok, err := r.shortBulk(maxChannelLen)
	if err != nil || !ok {
		return "", false, err
	}
	if r.channel == nil {
		r.channel = make([]byte, 0, maxChannelLen) // once: never grown past the bound
	}
	r.channel = append(r.channel[:0], b...)
	return str(r.channel), true, nil
}

// skipElems skips n values (of an aggregate at depth).
func (r *respReader) skipElems(n, depth int) error {
	for range n {
		if err := r.skip(depth); err != nil {
			return err
		}
	}
	return nil
}

// skip skips one RESP2 value, bounded in depth and size, without allocating.
func (r *respReader) skip(depth int) error {
	l, err := r.line()
	if err != nil {
		return err
	}
	switch l[0] {
	case '+', '-', ':':
		return nil
	case '$':
		n, ok := parseInt(l[1:])
		if !ok || n < -1 || n > maxSkipLen {
			return malformed("bad bulk header %q", truncate(l))
		}
		if n < 0 {
			return nil
		}
		return r.skipBulkBody(int(n))
	case '*':
		n, ok := parseInt(l[1:])
		if !ok || n < -1 || n > maxSkipElems || depth >= maxSkipDepth {
			return malformed("bad or too deep array header %q", truncate(l))
		}
		return r.skipElems(int(n), depth+1)
	default:
		return malformed("unexpected %q", truncate(l))
	}
}

// reply reads one reply during the connection's set-up: nil for a status or any other well-formed
// reply, a redisError for an error reply.
func (r *respReader) reply() error {
	l, err := r.br.Peek(1)
	if err != nil {
		return err
	}
	if l[0] == '-' {
		l, err := r.line()
		if err != nil {
			return err
		}
		return redisError(string(l[1:]))
	}
	return r.skip(0)
}

// truncate shortens a line quoted in an error.
func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
