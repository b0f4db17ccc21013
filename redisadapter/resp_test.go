package redisadapter

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// respMessage is a pub/sub message as Redis sends it in RESP2.
func respMessage(channel, payload string) string {
	return "*3\r\n$7\r\nmessage\r\n" + respBulk(channel) + respBulk(payload)
}

func respBulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func respSubscribed(channel string, n int) string {
	return "*3\r\n$9\r\nsubscribe\r\n" + respBulk(channel) + ":" + strconv.Itoa(n) + "\r\n"
}

// readAll reads events until an error, copying what it keeps.
func readAll(rd *respReader) ([]event, error) {
	var evs []event
	for {
		ev, err := rd.next()
		if err != nil {
			return evs, err
		}
		ev.channel, ev.payload = strings.Clone(ev.channel), strings.Clone(ev.payload)
		evs = append(evs, ev)
	}
}

// A stream of confirmations, messages (small, empty, larger than the buffer, too large, with an
// unexpected channel name), and replies the reader ignores decodes the same whether the connection
// hands it over whole, a byte at a time, or in halves.
func TestRESPReaderStream(t *testing.T) {
	big := strings.Repeat("b", 100) // larger than the 64-byte buffer below: read into scratch
	tooLarge := strings.Repeat("x", 300)
	longChannel := strings.Repeat("c", 70) // cannot be buffered whole: not a channel of ours, skipped
	stream := respSubscribed("bc", 1) + respSubscribed("own", 2) +
		respMessage("bc", "hello") +
		respMessage("own", "") +
		respMessage("bc", big) +
		respMessage("bc", tooLarge) +
		respMessage(longChannel, "lost") +
		"*3\r\n$11\r\nunsubscribe\r\n$2\r\nbc\r\n:1\r\n" + // an unsubscribe confirmation
		"*2\r\n$4\r\npong\r\n$0\r\n\r\n" + // an array of another length: ignored
		"+OK\r\n:12\r\n$-1\r\n*-1\r\n" + // other replies: ignored
		"*4\r\n$8\r\npmessage\r\n*2\r\n:1\r\n$1\r\nx\r\n$2\r\nbc\r\n$1\r\np\r\n" +
		respMessage("bc", "last") +
		"*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n" +
		"*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$7\r\nsharded\r\n" +
		"*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n" +
		"*3\r\n$11\r\nunsubscribe\r\n$70\r\n" + longChannel + "\r\n:0\r\n"
	want := []event{
		{kind: evSubscribed, channel: "bc"},
		{kind: evSubscribed, channel: "own"},
		{kind: evMessage, channel: "bc", payload: "hello", size: 5},
		{kind: evMessage, channel: "own", payload: "", size: 0},
		{kind: evMessage, channel: "bc", payload: big, size: len(big)},
		{kind: evTooLarge, channel: "bc", size: len(tooLarge)},
		{kind: evOther},
		{kind: evUnsubscribed, channel: "bc"}, {kind: evOther},
		{kind: evOther}, {kind: evOther}, {kind: evOther}, {kind: evOther},
		{kind: evOther},
		{kind: evMessage, channel: "bc", payload: "last", size: 4},
		// Sharded pub/sub (Redis Cluster): the same shapes under other names.
		{kind: evSubscribed, channel: "s"},
		{kind: evMessage, channel: "s", payload: "sharded", size: 7},
		{kind: evUnsubscribed, channel: "s"},
		{kind: evOther}, // an unsubscribe confirmation of a channel name too long to be ours
	}
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"bytes":   iotest.OneByteReader,
		"halves":  iotest.HalfReader,
		"dataerr": iotest.DataErrReader,
	} {
		t.Run(name, func(t *testing.T) {
			rd := newRESPReaderSize(wrap(strings.NewReader(stream)), 64, 200)
			got, err := readAll(rd)
			if err != io.EOF {
				t.Errorf("ended with %v, want io.EOF", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("event %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
			if cap(rd.scratch) > 202 {
				t.Errorf("scratch grew to %d bytes, over the bound", cap(rd.scratch))
			}
		})
	}
}

// Error replies are errors, with Redis's text.
func TestRESPReaderErrorReply(t *testing.T) {
	rd := newRESPReader(strings.NewReader(respSubscribed("bc", 1)+"-NOPERM this user has no permissions to access one of the channels\r\n"), 1024)
	if ev, err := rd.next(); err != nil || ev.kind != evSubscribed {
		t.Fatalf("got %+v, %v", ev, err)
	}
	_, err := rd.next()
	var re redisError
	if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), "NOPERM this user") {
		t.Fatalf("got %v, want the NOPERM reply as a redisError", err)
	}
	// In a message, in place of a header.
	rd = newRESPReader(strings.NewReader("*3\r\n$7\r\nmessage\r\n-NOAUTH Authentication required.\r\n"), 1024)
	if _, err := rd.next(); !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("got %v, want NOAUTH", err)
	}
	// reply, during the set-up.
	rd = newRESPReader(strings.NewReader("+OK\r\n-WRONGPASS invalid username-password pair\r\n"), 1024)
	if err := rd.reply(); err != nil {
		t.Fatalf("+OK: %v", err)
	}
	if err := rd.reply(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("got %v, want WRONGPASS", err)
	}
}

// Anything that is not RESP2, or a message of the wrong shape, is errMalformed: the subscription is
// then replaced.
func TestRESPReaderMalformed(t *testing.T) {
	for _, in := range []string{
		"hello\r\n",                      // no type
		"*3\n",                           // no CR
		"\r\n",                           // empty line
		"*x\r\n",                         // bad count
		"*99999999999999999999\r\n",      // count overflows
		"*3\r\n$7\r\nmessage\r\n:1\r\n",  // a message whose channel is not a bulk string
		"*3\r\n$7\r\nmessage\r\n$-1\r\n", // a null channel
		"*3\r\n$7\r\nmessage!!\r\n",      // a bulk string not ended by CRLF
		"*3\r\n$7\r\nmessage\r\n$2\r\nbc\r\n$3\r\nabcd\r\n", // payload longer than declared
		"*3\r\n$7\r\nmessage\r\n$2\r\nbc\r\n$536870913\r\n", // over Redis's own bulk limit
		"*3\r\n$9\r\nsubscribe\r\n$2\r\nbc\r\n$1\r\n1\r\n",  // a count that is not an integer
		"%1\r\n", // RESP3
		">3\r\n", // RESP3 push
		"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",                              // nested too deep
		"*3\r\n$7\r\nmessage\r\n$2\r\nbc\r\n$" + strings.Repeat("9", 30) + "\r\n", // length overflows
		"$" + strings.Repeat("1", 100) + "\r\n",                                   // a line longer than the buffer
	} {
		rd := newRESPReaderSize(strings.NewReader(in), 64, 1024)
		_, err := readAll(rd)
		if !errors.Is(err, errMalformed) {
			t.Errorf("%q: got %v, want errMalformed", in, err)
		}
	}
	// A stream cut short is the connection's error, not a hang.
	rd := newRESPReader(strings.NewReader("*3\r\n$7\r\nmessage\r\n$2\r\nbc\r\n$10\r\nabc"), 1024)
	if _, err := rd.next(); err != io.EOF && err != io.ErrUnexpectedEOF {
		t.Errorf("truncated: got %v, want EOF", err)
	}
}

// cyclicReader repeats data forever, in reads of at most chunk bytes.
type cyclicReader struct {
	data  []byte
	off   int
	chunk int
}

func (c *cyclicReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && n < c.chunk {
		k := copy(p[n:min(len(p), c.chunk)], c.data[c.off:])
		n += k
		c.off = (c.off + k) % len(c.data)
	}
	return n, nil
}

// hugeReader is a message declaring a payload of size bytes, sent whole (as a hostile publisher
// could), then a small message; repeated. It allocates nothing itself.
type hugeReader struct {
	head, tail []byte
	size       int
	left       int // bytes of the payload still to send
	state      int // 0: head, 1: payload, 2: tail
	off        int
}

func newHugeReader(size int) *hugeReader {
	return &hugeReader{
		head: []byte("*3\r\n$7\r\nmessage\r\n$2\r\nbc\r\n$" + strconv.Itoa(size) + "\r\n"),
		tail: []byte("\r\n" + respMessage("bc", "small")),
		size: size, left: size,
	}
}

func (h *hugeReader) Read(p []byte) (int, error) {
	switch h.state {
	case 1:
		n := min(len(p), h.left)
		clear(p[:n])
		if h.left -= n; h.left == 0 {
			h.state = 2
		}
		return n, nil
	default:
		part := h.head
		if h.state == 2 {
			part = h.tail
		}
		n := copy(p, part[h.off:])
		if h.off += n; h.off == len(part) {
			h.off = 0
			h.state = (h.state + 1) % 3
			h.left = h.size
		}
		return n, nil
	}
}

// A message declaring a payload far over the bound is skipped without allocating anything, whatever
// its declared length (go-redis allocates whatever a frame declares, up to 512 MB); the next message
// is read as usual.
func TestRESPReaderHugeLengthNotAllocated(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
	const huge = 64 << 20
	rd := newRESPReader(newHugeReader(huge), 1<<20)
	step := func() {
		ev, err := rd.next()
		if err != nil || ev.kind != evTooLarge || ev.size != huge {
			t.Fatalf("got %+v, %v; want a too large event", ev, err)
		}
		ev, err = rd.next()
		if err != nil || ev.kind != evMessage || ev.payload != "small" {
			t.Fatalf("got %+v, %v; want the next message", ev, err)
		}
	}
	if allocs := testing.AllocsPerRun(5, step); allocs != 0 {
		t.Errorf("%v allocations per %d MB frame skipped, want 0", allocs, huge>>20)
	}
	if cap(rd.scratch) != 0 {
		t.Errorf("scratch grew to %d bytes for frames it skipped", cap(rd.scratch))
	}
}

// Reading messages allocates nothing once the reader's buffers have grown: neither in place nor into
// scratch (a payload larger than the buffer).
func TestRESPReaderAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
	for _, size := range []int{100, 100 << 10} {
		data := []byte(respMessage("phx:{app}:broadcast", strings.Repeat("p", size)) + respSubscribed("phx:{app}:broadcast", 1))
		rd := newRESPReader(&cyclicReader{data: data, chunk: 1500}, 1<<20)
		step := func() {
			if ev, err := rd.next(); err != nil || ev.kind != evMessage || len(ev.payload) != size {
				t.Fatalf("got %+v, %v", ev.kind, err)
			}
			if ev, err := rd.next(); err != nil || ev.kind != evSubscribed {
				t.Fatalf("got %+v, %v", ev.kind, err)
			}
		}
		step()
		if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
			t.Errorf("payload %d bytes: %v allocations per message, want 0", size, allocs)
		}
	}
}

// FuzzRESPReader decodes arbitrary bytes, as a connection could deliver them: the reader never panics,
// never loops, and never holds more than its bounds (the payload bound in scratch, maxChannelLen for a
// channel name).
func FuzzRESPReader(f *testing.F) {
	for _, seed := range []string{
		respSubscribed("bc", 1) + respMessage("bc", "hello") + respMessage("own", strings.Repeat("x", 70)),
		respMessage("bc", strings.Repeat("y", 40)),
		"*3\r\n$7\r\nmessage\r\n$2\r\nbc\r\n$536870912\r\n",
		"-ERR unknown\r\n",
		"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$2\r\nbc\r\n$1\r\np\r\n",
		"+OK\r\n:1\r\n$-1\r\n*-1\r\n*0\r\n",
		"*2\r\n*2\r\n:1\r\n:2\r\n$3\r\nabc\r\n",
		"*3\r\n$11\r\nunsubscribe\r\n$2\r\nbc\r\n:0\r\n*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n",
		"*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$2\r\nhi\r\n*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxPayload = 48
		for _, bufSize := range []int{32, readBufSize} {
			rd := newRESPReaderSize(bytes.NewReader(data), bufSize, maxPayload)
			for i := 0; ; i++ {
				if i > len(data) {
					t.Fatalf("%d events from %d bytes", i, len(data))
				}
				ev, err := rd.next()
				if err != nil {
					break
				}
				if len(ev.payload) > maxPayload || len(ev.channel) > maxChannelLen {
					t.Fatalf("event over the bounds: %d-byte payload, %d-byte channel", len(ev.payload), len(ev.channel))
				}
			}
			if cap(rd.scratch) > maxPayload+2 || cap(rd.channel) > maxChannelLen {
				t.Fatalf("buffers over the bounds: scratch %d, channel %d", cap(rd.scratch), cap(rd.channel))
			}
			rd = newRESPReaderSize(bytes.NewReader(data), bufSize, maxPayload)
			for i := 0; i <= len(data); i++ {
				if rd.reply() != nil {
					break
				}
			}
		}
	})
}

// FuzzBucketOf parses arbitrary channel names, as Redis hands them over: a name is a bucket's channel
// exactly when the channel the routes build for that bucket is the same name.
func FuzzBucketOf(f *testing.F) {
	for _, seed := range []string{"phx:{app}:b:2a", "phx:{app}:b:0", "phx:{app}:b:", "phx:{app}:b:03ffff", "phx:{app.3.17}:b:13", "phx:{app}:broadcast", "phx:{", ":"} {
		f.Add(seed)
	}
	cfg, err := Config{URL: "redis://x", RouteByTopic: true, Buckets: 1 << 18}.withDefaults()
	if err != nil {
		f.Fatal(err)
	}
	single, sharded := newRoutes(cfg), newRoutes(cfg)
	single.chPrefix = newChannels("phx", "app").routePrefix()
	sharded.shard("phx", "app", 16)
	f.Fuzz(func(t *testing.T, channel string) {
		for _, r := range []*routes{single, sharded} {
			b := r.bucketOf(channel)
			if b < -1 || b >= r.buckets {
				t.Fatalf("bucketOf(%q) = %d, out of range", channel, b)
			}
			if b >= 0 {
				if name, _ := r.channel(b); name != channel {
					t.Fatalf("bucketOf(%q) = %d, whose channel is %q", channel, b, name)
				}
			}
		}
	})
}
