package redisadapter

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
)

// fakeClient is the part of a go-redis client the publisher uses (Process, Pipeline), with a round trip
// the test controls: roundTrip sees every command of a batch, and may block or fail them. Any other
// method panics (nil embedded interface).
type fakeClient struct {
	redis.UniversalClient
	roundTrip func(ctx context.Context, cmds []redis.Cmder) error
	one       [1]redis.Cmder // Process's batch, so that the fake allocates nothing
}

func (f *fakeClient) Process(ctx context.Context, cmd redis.Cmder) error {
	f.one[0] = cmd
	return f.roundTrip(ctx, f.one[:])
}

func (f *fakeClient) Pipeline() redis.Pipeliner { return &fakePipe{f: f} }

type fakePipe struct {
	redis.Pipeliner
	f    *fakeClient
	cmds []redis.Cmder
}

func (p *fakePipe) BatchProcess(ctx context.Context, cmds ...redis.Cmder) error {
	p.cmds = append(p.cmds, cmds...)
	return nil
}

func (p *fakePipe) Exec(ctx context.Context) ([]redis.Cmder, error) {
	err := p.f.roundTrip(ctx, p.cmds)
	clear(p.cmds)
	p.cmds = p.cmds[:0]
	return nil, err
}

// frameOf returns the frame a PUBLISH command carries (not a copy).
func frameOf(t testing.TB, cmd redis.Cmder) []byte {
	switch v := cmd.Args()[2].(type) {
	case encoding.BinaryMarshaler:
		b, _ := v.MarshalBinary()
		return b
	case []byte:
		return v
	default:
		t.Errorf("PUBLISH argument of type %T", v)
		return nil
	}
}

// testFrame encodes a direct frame to node "x" whose payload is the decimal id, padded to 8 digits.
func testFrame(t testing.TB, id int) []byte {
	f, err := wire.Append(nil, &wire.Envelope{
		Kind: wire.KindDirect, Origin: "me", Incarnation: [16]byte{1}, Target: "x", Topic: "t",
		PayloadType: "string", Payload: fmt.Appendf(nil, "%08d", id),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// idOf reads back the id of a testFrame, or -1 if the frame is not one (it was overwritten).
func idOf(frame []byte) int {
	if len(frame) < wire.HeaderLen+8 || wire.FrameKind(frame) != wire.KindDirect {
		return -1
	}
	if frame[4]&wire.FlagSigned != 0 {
		frame = frame[:len(frame)-wire.MACLen]
	}
	id, err := strconv.Atoi(string(frame[len(frame)-8:]))
	if err != nil {
		return -1
	}
	return id
}

func startPublisher(t testing.TB, f *fakeClient) *publisher {
	p := newPublisher(f, DefaultMaxBatch, &counters{})
	t.Cleanup(p.close)
	return p
}

// A broadcast whose frame is in a round trip returns when its context ends, with an error that says
// the frame may have been delivered; the publisher sends its own copy, so the caller may reuse its
// buffer at once. A broadcast still queued behind it returns a "not sent" error and is never sent.
func TestPublisherInFlightFollowsContext(t *testing.T) {
	entered := make(chan []redis.Cmder, 4)
	release := make(chan struct{})
	var mu sync.Mutex
	var sent []int
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		entered <- cmds
		<-release
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cmds {
			sent = append(sent, idOf(frameOf(t, c)))
		}
		return nil
	}}
	p := startPublisher(t, f)

	frame := testFrame(t, 1)
	ctx1, cancel1 := context.WithCancel(context.Background())
	err1 := make(chan error, 1)
	go func() { err1 <- p.publish(ctx1, "ch", frame) }()
	<-entered // frame 1 is in a round trip that does not end

	ctx2, cancel2 := context.WithCancel(context.Background())
	err2 := make(chan error, 1)
	go func() { err2 <- p.publish(ctx2, "ch", testFrame(t, 2)) }()
	waitQueued(t, p, 1)

	cancel1()
	err := <-err1
	if !errors.Is(err, ErrMaybeDelivered) || !errors.Is(err, context.Canceled) {
		t.Errorf("in-flight broadcast whose context ended: %v; want ErrMaybeDelivered and context.Canceled", err)
	}
	t.Logf("in flight: %v", err)
	for i := range frame {
		frame[i] = 0xff // the caller's buffer is the caller's again
	}
	cancel2()
	err = <-err2
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrMaybeDelivered) {
		t.Errorf("queued broadcast whose context ended: %v; want context.Canceled, not ErrMaybeDelivered", err)
	}
	t.Logf("queued: %v", err)

	close(release)
	if err := p.publish(context.Background(), "ch", testFrame(t, 3)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 3}; fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Errorf("sent frames %v, want %v (frame 1 intact although its caller's buffer was overwritten; frame 2 never)", sent, want)
	}
}

// waitQueued waits until n requests are queued on p.
func waitQueued(t testing.TB, p *publisher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		q := len(p.queue)
		p.mu.Unlock()
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued after 5 s, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Closing abandons the frame in flight (its caller is told it may have been delivered) and fails the
// queued one (not sent), without waiting for the round trip; the publisher goroutine ends with it.
func TestPublisherCloseAbandonsInFlight(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		entered <- struct{}{}
		<-release
		return errors.New("use of closed network connection")
	}}
	p := newPublisher(f, DefaultMaxBatch, &counters{})
	errs := make(chan error, 2)
	go func() { errs <- p.publish(context.Background(), "ch", testFrame(t, 1)) }()
	<-entered
	go func() { errs <- p.publish(context.Background(), "ch", testFrame(t, 2)) }()
	waitQueued(t, p, 1)

	p.stop()
	p.abandon()
	var maybe, notSent int
	for range 2 {
		err := <-errs
		if !errors.Is(err, pubsub.ErrClosed) {
			t.Errorf("broadcast at close: %v, want pubsub.ErrClosed", err)
		}
		if errors.Is(err, ErrMaybeDelivered) {
			maybe++
		} else {
			notSent++
		}
		t.Logf("at close: %v", err)
	}
	if maybe != 1 || notSent != 1 {
		t.Errorf("%d may-have-been-delivered and %d not-sent errors, want 1 and 1", maybe, notSent)
	}
	if err := p.publish(context.Background(), "ch", testFrame(t, 3)); !errors.Is(err, pubsub.ErrClosed) || errors.Is(err, ErrMaybeDelivered) {
		t.Errorf("broadcast after close: %v, want pubsub.ErrClosed (not sent)", err)
	}
	select {
	case <-p.stopped:
		t.Fatal("publisher stopped while its round trip was blocked")
	default:
	}
	close(release)
	<-p.stopped
}

// Many callers whose contexts end at random moments, against round trips of random length: every
// answer reaches its own caller (pooled requests are never reused while the publisher may still
// answer them), and every frame sent is intact although callers scribble over their buffers as soon as
// publish returns. Run with -race.
func TestPublisherGiveUpRaces(t *testing.T) {
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		}
		for _, c := range cmds {
			// Redis refuses each frame with an error naming it: a refusal is not "maybe delivered", and the
			// caller checks that the answer it got is its own.
			id := idOf(frameOf(t, c))
			if id < 0 {
				t.Errorf("a frame was overwritten before it was sent: %q", frameOf(t, c))
			}
			c.SetErr(redisError("ERR frame " + strconv.Itoa(id)))
		}
		return nil
	}}
	p := startPublisher(t, f)
	const callers, each = 16, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 256)
			for i := range each {
				id := g*each + i
				buf = append(buf[:0], testFrame(t, id)...)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
				err := p.publish(ctx, "ch", buf)
				cancel()
				for j := range buf {
					buf[j] = 'z'
				}
				var outcome string
				switch {
				case errors.Is(err, ErrMaybeDelivered):
					outcome = "maybe delivered"
				case errors.Is(err, context.DeadlineExceeded):
					outcome = "not sent"
				case err != nil && err.Error() == "redisadapter: publish: ERR frame "+strconv.Itoa(id):
					outcome = "answered"
				default:
					t.Errorf("frame %d: got %v, want its own answer or a context error", id, err)
					return
				}
				mu.Lock()
				outcomes[outcome]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("outcomes: %v", outcomes)
}

// The publish path allocates nothing in steady state: requests are pooled and frames are copied into
// the publisher's reused batch buffer.
func TestPublishAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	f := &fakeClient{roundTrip: func(context.Context, []redis.Cmder) error { return nil }}
	p := startPublisher(t, f)
	frame := testFrame(t, 1)
	ctx := context.Background()
	publish := func() {
		if err := p.publish(ctx, "ch", frame); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		publish()
	}
	if allocs := testing.AllocsPerRun(1000, publish); allocs != 0 {
		t.Errorf("publish allocates %v times per frame, want 0", allocs)
	}
}

// A batch holds every frame queued, each copied whole, and a large frame does not make the publisher
// keep a large buffer.
func TestPublisherBatchBuffer(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-block
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cmds {
			got = append(got, bytes.Clone(frameOf(t, c)))
		}
		return nil
	}}
	p := startPublisher(t, f)
	big, err := wire.Append(nil, &wire.Envelope{Kind: wire.KindDirect, Origin: "me", Incarnation: [16]byte{1}, Target: "x", Topic: "t",
		Payload: bytes.Repeat([]byte("b"), maxKeptBatchBytes+1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	publish := func(frame []byte) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.publish(context.Background(), "ch", frame); err != nil {
				t.Error(err)
			}
		}()
	}
	publish(testFrame(t, 0))
	<-entered // the first round trip blocks; the rest queue behind it
	for i := 1; i <= 10; i++ {
		publish(testFrame(t, i))
		waitQueued(t, p, i)
	}
	publish(big)
	waitQueued(t, p, 11)
	close(block)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 12 {
		t.Fatalf("%d frames sent, want 12", len(got))
	}
	for i := range 11 {
		if id := idOf(got[i]); id != i {
			t.Errorf("frame %d sent as %q (id %d)", i, got[i], id)
		}
	}
	if len(got[11]) != len(big) || !bytes.Equal(got[11][wire.HeaderLen:], big[wire.HeaderLen:]) {
		t.Errorf("large frame sent as %d bytes, want %d", len(got[11]), len(big))
	}
	// The next batch drops the large buffer.
	mu.Unlock()
	defer mu.Lock()
	if err := p.publish(context.Background(), "ch", testFrame(t, 12)); err != nil {
		t.Fatal(err)
	}
	p.close()
	if c := cap(p.buf); c > maxKeptBatchBytes {
		t.Errorf("publisher keeps a %d-byte buffer, want ≤ %d", c, maxKeptBatchBytes)
	}
}

// Close at random moments while many broadcasters without deadlines publish against round trips of
// random length: every broadcaster returns (Close answers each frame queued, being copied or in
// flight), with nil, or pubsub.ErrClosed ("not sent" or "may have been delivered"), and at most one
// round trip starts once abandon has returned (the batch it answered, if the publisher was about to
// send it): nothing queued or being copied then is sent. Run with -race.
func TestPublisherCloseRaces(t *testing.T) {
	for round := range 30 {
		var abandonedAt atomic.Bool
		var late atomic.Int32
		f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
			if abandonedAt.Load() && late.Add(1) > 1 {
				t.Errorf("round %d: a second round trip (%d frames) started after abandon returned", round, len(cmds))
			}
			if rand.IntN(2) == 0 {
				time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
			}
			return nil
		}}
		p := newPublisher(f, 8, &counters{}) // small batches: more of them, more moments to close in
		const callers = 32
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				frame := testFrame(t, 1)
				for {
					err := p.publish(context.Background(), "ch", frame)
					if err == nil {
						continue
					}
					if !errors.Is(err, pubsub.ErrClosed) {
						t.Errorf("round %d: %v, want nil or pubsub.ErrClosed", round, err)
					}
					return
				}
			}()
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		p.stop()
		p.abandon()
		abandonedAt.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: broadcasters still waiting 5 s after Close", round)
		}
		<-p.stopped
	}
}

// testSealer is a pubsub.Sealer of a testFrame: it numbers the frame from a counter shared by the
// test's sealers, notes the order it was sealed in, and fails the test if it is used after its
// caller's publish returned (the Sealer is the caller's, valid only while it waits).
type testSealer struct {
	t        testing.TB
	id       int
	frame    []byte
	returned atomic.Bool
	next     *atomic.Uint64
	order    *[]int // ids in the order they were sealed; the publisher goroutine alone appends
}

func (s *testSealer) SealedLen() int { return len(s.frame) }

func (s *testSealer) AppendSealed(dst []byte) []byte {
	if s.returned.Load() {
		s.t.Errorf("frame %d sealed after its publish returned", s.id)
	}
	*s.order = append(*s.order, s.id)
	start := len(dst)
	dst = append(dst, s.frame...)
	wire.StampSeq(dst[start:], s.next.Add(1))
	return dst
}

// Frames are sealed as the publisher takes them for the wire, in the order it sends them, and a frame
// whose caller gave up while it was queued is never sealed (it takes no number, so no receiver waits
// for it and reports it lost).
func TestPublisherSealsInWireOrder(t *testing.T) {
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	var mu sync.Mutex
	var sent []int
	var seqs []uint64
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		entered <- struct{}{}
		<-release
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cmds {
			fr := frameOf(t, c)
			sent = append(sent, idOf(fr))
			if d, err := wire.Decode(string(fr), wire.Limits{}); err == nil {
				seqs = append(seqs, d.Seq)
			}
		}
		return nil
	}}
	p := startPublisher(t, f)

	// Frame 1 (not sealed) is in a round trip that does not end yet.
	err1 := make(chan error, 1)
	go func() { err1 <- p.publish(context.Background(), "ch", testFrame(t, 1)) }()
	<-entered

	var next atomic.Uint64
	next.Store(100)
	var order []int
	publishSealed := func(ctx context.Context, id int, errc chan<- error) {
		s := &testSealer{t: t, id: id, frame: testFrame(t, id), next: &next, order: &order}
		go func() {
			err := p.publishBoxed(ctx, "ch", nil, -1, s.frame, s)
			s.returned.Store(true)
			errc <- err
		}()
	}
	err2, err3, err4 := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	publishSealed(context.Background(), 2, err2)
	waitQueued(t, p, 1)
	ctx3, cancel3 := context.WithCancel(context.Background())
	publishSealed(ctx3, 3, err3)
	waitQueued(t, p, 2)
	publishSealed(context.Background(), 4, err4)
	waitQueued(t, p, 3)
	cancel3()
	if err := <-err3; !errors.Is(err, context.Canceled) || errors.Is(err, ErrMaybeDelivered) {
		t.Errorf("frame 3, given up while queued: %v; want context.Canceled (not sent)", err)
	}
	close(release)
	for i, errc := range []chan error{err1, err2, err4} {
		if err := <-errc; err != nil {
			t.Errorf("publish #%d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sent) != "[1 2 4]" || fmt.Sprint(order) != "[2 4]" {
		t.Errorf("sent %v, sealed %v; want sent [1 2 4], sealed [2 4] (frame 3 never)", sent, order)
	}
	if fmt.Sprint(seqs) != "[0 101 102]" {
		t.Errorf("sequence numbers on the wire %v, want [0 101 102]: consecutive, frame 3 took none", seqs)
	}
}
