package redisadapter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
)

// fakeRedis is a server that reads RESP commands and answers each as answer says: a RESP reply, or ""
// to close the connection without answering, or hold to read on and never answer.
type fakeRedis struct {
	ln     net.Listener
	answer func(cmd []string) string
	wg     sync.WaitGroup

	mu    sync.Mutex
	got   [][]string
	conns []net.Conn
	dials int
}

const hold = "\x00hold"

func newFakeRedis(t *testing.T, answer func(cmd []string) string) *fakeRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeRedis{ln: ln, answer: answer}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.kill()
		s.wg.Wait()
	})
	return s
}

func (s *fakeRedis) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.dials++
		s.mu.Unlock()
		s.wg.Add(1)
		go s.conn(c)
	}
}

func (s *fakeRedis) conn(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		cmd, err := readCommand(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.got = append(s.got, cmd)
		s.mu.Unlock()
		reply := s.answer(cmd)
		switch reply {
		case "":
			return
		case hold:
			continue
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// kill closes every connection the server has accepted.
func (s *fakeRedis) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *fakeRedis) commands() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.got...)
}

func (s *fakeRedis) dialCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// readCommand reads one RESP array of bulk strings.
func readCommand(br *bufio.Reader) ([]string, error) {
	n, err := readHeader(br, '*')
	if err != nil {
		return nil, err
	}
	cmd := make([]string, n)
	for i := range cmd {
		size, err := readHeader(br, '$')
		if err != nil {
			return nil, err
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		if !bytes.HasSuffix(b, []byte("\r\n")) {
			return nil, fmt.Errorf("bulk string without CRLF: %q", b)
		}
		cmd[i] = string(b[:size])
	}
	return cmd, nil
}

func readHeader(br *bufio.Reader, want byte) (int, error) {
	l, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if len(l) < 3 || l[0] != want || l[len(l)-2] != '\r' {
		return 0, fmt.Errorf("bad header %q, want %q", l, want)
	}
	return strconv.Atoi(l[1 : len(l)-2])
}

// ownPublisher returns a publisher on its own connection to s, dialled through set (as the adapter's).
func ownPublisher(t *testing.T, s *fakeRedis, set *connSet, tune func(*redis.Options)) *publisher {
	t.Helper()
	opt := &redis.Options{Addr: s.ln.Addr().String(), ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	d := &net.Dialer{Timeout: 5 * time.Second}
	opt.Dialer = set.dialer(d.DialContext)
	if tune != nil {
		tune(opt)
	}
	p := newPublisherOn(&fakeClient{}, opt, 128, &counters{})
	t.Cleanup(func() {
		p.close()
		set.closeAll()
	})
	return p
}

func answerPublish(cmd []string) string {
	if len(cmd) == 3 && cmd[0] == "publish" {
		return ":1\r\n"
	}
	return "+OK\r\n"
}

// TestPubConnPublishes: concurrent broadcasters' frames reach the server as PUBLISH commands, byte for
// byte, in each broadcaster's order, every one answered.
func TestPubConnPublishes(t *testing.T) {
	s := newFakeRedis(t, answerPublish)
	p := ownPublisher(t, s, newConnSet(), nil)
	const callers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				frame := []byte(fmt.Sprintf("%d/%d\r\n$%s", c, i, bytes.Repeat([]byte{byte(i)}, i*7)))
				if err := p.publish(context.Background(), "ch:"+strconv.Itoa(c%3), frame); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish: %v", err)
	}
	next := make([]int, callers)
	n := 0
	for _, cmd := range s.commands() {
		if len(cmd) != 3 || cmd[0] != "publish" {
			t.Fatalf("unexpected command %q", cmd)
		}
		var c, i int
		if _, err := fmt.Sscanf(cmd[2], "%d/%d", &c, &i); err != nil {
			t.Fatalf("frame %q: %v", cmd[2], err)
		}
		want := fmt.Sprintf("%d/%d\r\n$%s", c, i, bytes.Repeat([]byte{byte(i)}, i*7))
		if cmd[1] != "ch:"+strconv.Itoa(c%3) || cmd[2] != want || i != next[c] {
			t.Fatalf("command %d: %q, want frame %d of caller %d: %q", n, cmd, next[c], c, want)
		}
		next[c]++
		n++
	}
	if n != callers*each {
		t.Fatalf("server got %d frames, want %d", n, callers*each)
	}
	if d := s.dialCount(); d != 1 {
		t.Errorf("%d connections, want 1", d)
	}
}

// TestPubConnRefused: an error answer fails its frame (not sent: no ErrMaybeDelivered) and leaves the
// connection in use.
func TestPubConnRefused(t *testing.T) {
	s := newFakeRedis(t, func(cmd []string) string {
		if cmd[2] == "bad" {
			return "-NOPERM this user has no permissions to access the channel\r\n"
		}
		return ":1\r\n"
	})
	p := ownPublisher(t, s, newConnSet(), nil)
	err := p.publish(context.Background(), "ch", []byte("bad"))
	var re redis.Error
	if err == nil || errors.Is(err, ErrMaybeDelivered) || !errors.As(err, &re) {
		t.Fatalf("refused frame: %v; want a redis.Error without ErrMaybeDelivered", err)
	}
	if err := p.publish(context.Background(), "ch", []byte("good")); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
	if d := s.dialCount(); d != 1 {
		t.Errorf("%d connections, want 1 (an error answer does not break the connection)", d)
	}
}

// TestPubConnIdleCloseRedials: a connection Redis closed while it was idle is found by the health
// check, and the next frame goes out on a new one instead of failing.
func TestPubConnIdleCloseRedials(t *testing.T) {
	s := newFakeRedis(t, answerPublish)
	p := ownPublisher(t, s, newConnSet(), nil)
	for round := range 3 {
		if err := p.publish(context.Background(), "ch", []byte("x")); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		s.kill()
		time.Sleep(checkIdleAfter + 20*time.Millisecond) // the close reaches the client; the connection is idle
	}
	if d := s.dialCount(); d != 3 {
		t.Errorf("%d connections, want 3", d)
	}
}

// TestPubConnBrokenRoundTrip: a connection that breaks before its answer fails the frame with
// ErrMaybeDelivered (Redis may have published it), and the next frame goes out on a new connection.
func TestPubConnBrokenRoundTrip(t *testing.T) {
	s := newFakeRedis(t, func(cmd []string) string {
		if cmd[2] == "drop" {
			return ""
		}
		return ":1\r\n"
	})
	p := ownPublisher(t, s, newConnSet(), nil)
	if err := p.publish(context.Background(), "ch", []byte("drop")); !errors.Is(err, ErrMaybeDelivered) {
		t.Fatalf("frame whose answer never came: %v; want ErrMaybeDelivered", err)
	}
	if err := p.publish(context.Background(), "ch", []byte("ok")); err != nil {
		t.Fatalf("after a broken connection: %v", err)
	}
	if d := s.dialCount(); d != 2 {
		t.Errorf("%d connections, want 2", d)
	}
}

// TestPubConnReadTimeout: Options.ReadTimeout bounds the wait for an answer, as it does go-redis's.
func TestPubConnReadTimeout(t *testing.T) {
	s := newFakeRedis(t, func([]string) string { return hold })
	p := ownPublisher(t, s, newConnSet(), func(o *redis.Options) { o.ReadTimeout = 100 * time.Millisecond })
	start := time.Now()
	err := p.publish(context.Background(), "ch", []byte("x"))
	if !errors.Is(err, ErrMaybeDelivered) || !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("unanswered frame: %v; want a timeout wrapping ErrMaybeDelivered", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the read timeout of 100ms took %v", took)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestPubConnDialFails: a frame that could not be sent because no connection could be made fails
// without ErrMaybeDelivered.
func TestPubConnDialFails(t *testing.T) {
	s := newFakeRedis(t, answerPublish)
	set := newConnSet()
	p := ownPublisher(t, s, set, nil)
	s.ln.Close()
	err := p.publish(context.Background(), "ch", []byte("x"))
	if err == nil || errors.Is(err, ErrMaybeDelivered) {
		t.Fatalf("frame without a connection: %v; want an error without ErrMaybeDelivered", err)
	}
}

// TestPubConnAuth: the connection authenticates with the options' credentials before it publishes.
func TestPubConnAuth(t *testing.T) {
	s := newFakeRedis(t, answerPublish)
	p := ownPublisher(t, s, newConnSet(), func(o *redis.Options) {
		o.Username, o.Password, o.ClientName = "alice", "secret", "node-a"
	})
	if err := p.publish(context.Background(), "ch", []byte("x")); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(s.commands())
	want := "[[AUTH alice secret] [CLIENT SETNAME node-a] [publish ch x]]"
	if got != want {
		t.Errorf("commands %s, want %s", got, want)
	}
}

// TestPubConnCloseIsBounded: Close returns at once when the publisher's round trip is stuck, be it in a
// set-up that is never answered (a dial into a black hole) or in a publish: the caller gets
// ErrMaybeDelivered and pubsub.ErrClosed, and the publisher goroutine ends once the adapter closes its
// connections.
func TestPubConnCloseIsBounded(t *testing.T) {
	for _, stuck := range []string{"setup", "publish"} {
		t.Run(stuck, func(t *testing.T) {
			s := newFakeRedis(t, func([]string) string { return hold })
			set := newConnSet()
			p := ownPublisher(t, s, set, func(o *redis.Options) {
				if stuck == "setup" {
					o.Password = "secret" // AUTH, never answered
				}
			})
			errc := make(chan error, 1)
			go func() { errc <- p.publish(context.Background(), "ch", []byte("x")) }()
			for len(s.commands()) == 0 {
				time.Sleep(time.Millisecond)
			}
			start := time.Now()
			p.stop()
			p.abandon()
			err := <-errc
			if !errors.Is(err, ErrMaybeDelivered) || !errors.Is(err, pubsub.ErrClosed) {
				t.Errorf("broadcast in flight at Close: %v; want ErrMaybeDelivered and ErrClosed", err)
			}
			set.closeAll()
			<-p.stopped
			if took := time.Since(start); took > time.Second {
				t.Errorf("Close took %v", took)
			}
		})
	}
}

// TestPubConnAllocations: a lone broadcaster's round trip on the publisher's own connection allocates
// nothing (the request is pooled, the command is encoded into the batch buffer, the answer read without
// a closure per read). Against a real Redis (PHXGO_REDIS_URL), so that only this process's side counts.
func TestPubConnAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not meaningful under -race")
	}
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" {
		t.Skip("set PHXGO_REDIS_URL to count the allocations of a round trip to a real Redis")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	set := newConnSet()
	opt.Dialer = set.dialer((&net.Dialer{Timeout: 5 * time.Second}).DialContext)
	client := redis.NewClient(opt)
	defer client.Close()
	p := newPublisherOn(client, client.Options(), 128, &counters{})
	defer func() {
		p.close()
		set.closeAll()
	}()
	frame := bytes.Repeat([]byte("f"), 100)
	ctx := context.Background()
	for range 10 { // warm: connection, buffers, pools
		if err := p.publish(ctx, "phxgo-test-allocs", frame); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(500, func() {
		if err := p.publish(ctx, "phxgo-test-allocs", frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0.1 {
		t.Errorf("%.2f allocations per broadcast, want 0", allocs)
	}
}

// TestPubConnPartialBatch: when the connection breaks in the middle of a batch's answers, the frames
// answered before the break succeed and only the others fail with ErrMaybeDelivered.
func TestPubConnPartialBatch(t *testing.T) {
	release := make(chan struct{})
	s := newFakeRedis(t, func(cmd []string) string {
		switch cmd[2] {
		case "first":
			<-release // the next frames queue meanwhile: they go out as one batch
		case "drop":
			return ""
		}
		return ":1\r\n"
	})
	p := ownPublisher(t, s, newConnSet(), nil)
	queued := func(n int) {
		for {
			p.mu.Lock()
			q := len(p.queue)
			p.mu.Unlock()
			if q == n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	first := make(chan error, 1)
	go func() { first <- p.publish(context.Background(), "ch", []byte("first")) }()
	for len(s.commands()) == 0 {
		time.Sleep(time.Millisecond)
	}
	names := []string{"a", "b", "drop", "c"}
	errs := make([]chan error, len(names))
	for i, name := range names {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- p.publish(context.Background(), "ch", []byte(name)) }()
		queued(i + 1) // in this order
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	for i, name := range names {
		err := <-errs[i]
		if maybe := i >= 2; maybe != errors.Is(err, ErrMaybeDelivered) || !maybe && err != nil {
			t.Errorf("%s: %v; want ErrMaybeDelivered: %v", name, err, maybe)
		}
	}
}

// TestPubConnRedialBacksOff: while Redis cannot be reached, batches fail at once with the dial's error
// (never "maybe delivered") and the publisher dials again only after a back-off, not once a batch; once
// Redis is back, the next batch after the back-off dials and publishes.
func TestPubConnRedialBacksOff(t *testing.T) {
	s := newFakeRedis(t, answerPublish)
	var down atomic.Bool
	var dials atomic.Int32
	p := ownPublisher(t, s, newConnSet(), func(opt *redis.Options) {
		dial := opt.Dialer
		opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			if down.Load() {
				return nil, errors.New("connection refused (the test's)")
			}
			return dial(ctx, network, addr)
		}
	})
	const backoff = 50 * time.Millisecond
	p.own.redialMin, p.own.redialMax = backoff, 4*backoff
	down.Store(true)
	start := time.Now()
	for range 50 {
		if err := p.publish(context.Background(), "ch", []byte("x")); err == nil || errors.Is(err, ErrMaybeDelivered) {
			t.Fatalf("a frame while Redis is down: %v; want the dial's error, not maybe delivered", err)
		}
	}
	allowed := 1 + int(time.Since(start)/backoff) + 1 // the first dial, then at most one per back-off
	if n := int(dials.Load()); n > allowed || n >= 50 {
		t.Fatalf("%d dials for 50 frames in %v while Redis was down; want at most %d", n, time.Since(start), allowed)
	}
	down.Store(false)
	time.Sleep(5 * backoff) // past the longest back-off
	if err := p.publish(context.Background(), "ch", []byte("y")); err != nil {
		t.Fatalf("a frame once Redis is back: %v", err)
	}
}
