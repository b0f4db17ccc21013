package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
)

// The sender drives (publisher.callerSends): a broadcaster that finds the publisher idle and whose
// context cannot end sends its own frame; frames queued meanwhile are group-committed by the publisher
// goroutine. These tests hold what that must not change: one round trip at a time, order, group
// commit, context handling and Close.

func startCallerSendsPublisher(t testing.TB, f *fakeClient) *publisher {
	p := newPublisher(f, DefaultMaxBatch, &counters{})
	p.callerSends = true
	t.Cleanup(p.close)
	return p
}

// onOwnGoroutine reports whether the round trip in progress runs on a broadcaster's goroutine (sendOwn)
// rather than on the publisher goroutine.
func onOwnGoroutine() bool {
	buf := make([]byte, 8<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), "(*publisher).sendOwn")
}

// A lone broadcaster whose context cannot end sends on its own goroutine; one whose context can end
// hands its frame to the publisher goroutine (it must be able to return when its context ends, which
// a goroutine blocked in go-redis cannot).
func TestPublisherCallerSendsItsOwnFrame(t *testing.T) {
	var own atomic.Bool
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		own.Store(onOwnGoroutine())
		return nil
	}}
	p := startCallerSendsPublisher(t, f)
	if err := p.publish(context.Background(), "ch", testFrame(t, 1)); err != nil {
		t.Fatal(err)
	}
	if !own.Load() {
		t.Error("a lone broadcaster with context.Background() did not send its own frame")
	}
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.publish(c, "ch", testFrame(t, 2)); err != nil {
		t.Fatal(err)
	}
	if own.Load() {
		t.Error("a broadcaster whose context can end sent its own frame")
	}
	if err := p.publish(context.Background(), "ch", testFrame(t, 3)); err != nil {
		t.Fatal(err)
	}
	if !own.Load() {
		t.Error("the publisher goroutine did not give the right to send back once idle")
	}
}

// Frames queued while a broadcaster's own round trip is in flight go out together in the next round
// trip, in the order they were queued, from the publisher goroutine; then the publisher is idle again.
func TestPublisherCallerSendsGroupCommit(t *testing.T) {
	entered := make(chan bool, 4)
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		entered <- onOwnGoroutine()
		<-release
		var ids []int
		for _, c := range cmds {
			ids = append(ids, idOf(frameOf(t, c)))
		}
		mu.Lock()
		batches = append(batches, ids)
		mu.Unlock()
		return nil
	}}
	p := startCallerSendsPublisher(t, f)
	errs := make(chan error, 11)
	go func() { errs <- p.publish(context.Background(), "ch", testFrame(t, 0)) }()
	if own := <-entered; !own {
		t.Fatal("the first broadcaster did not send its own frame")
	}
	for i := 1; i <= 10; i++ {
		c := context.Background()
		if i%2 == 0 {
			var cancel context.CancelFunc
			c, cancel = context.WithTimeout(c, time.Minute)
			defer cancel()
		}
		go func() { errs <- p.publish(c, "ch", testFrame(t, i)) }()
		waitQueued(t, p, i) // queued behind the round trip in flight, whatever their contexts
	}
	close(release)
	if own := <-entered; own {
		t.Error("the queued frames were sent by a broadcaster, not by the publisher goroutine")
	}
	for range 11 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	mu.Lock()
	got := fmt.Sprint(batches)
	mu.Unlock()
	if want := "[[0] [1 2 3 4 5 6 7 8 9 10]]"; got != want {
		t.Errorf("round trips %s, want %s", got, want)
	}
	if err := p.publish(context.Background(), "ch", testFrame(t, 11)); err != nil {
		t.Fatal(err)
	}
	if own := <-entered; !own {
		t.Error("the publisher did not become idle after the batch: the next lone broadcaster did not send its own frame")
	}
}

// Closing while a broadcaster's own round trip is in flight: the frames queued behind it fail (not
// sent), the publisher stops only once that round trip has ended, and the broadcaster, whose round trip
// Close broke, is told the frame may have been delivered and why (pubsub.ErrClosed).
func TestPublisherCallerSendsClose(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		entered <- struct{}{}
		<-release
		return errors.New("use of closed network connection")
	}}
	p := newPublisher(f, DefaultMaxBatch, &counters{})
	p.callerSends = true
	own := make(chan error, 1)
	go func() { own <- p.publish(context.Background(), "ch", testFrame(t, 1)) }()
	<-entered
	queued := make(chan error, 1)
	go func() { queued <- p.publish(context.Background(), "ch", testFrame(t, 2)) }()
	waitQueued(t, p, 1)

	p.stop()
	if err := <-queued; !errors.Is(err, pubsub.ErrClosed) || errors.Is(err, ErrMaybeDelivered) {
		t.Errorf("frame queued at close: %v, want pubsub.ErrClosed, not sent", err)
	}
	p.abandon()
	select {
	case <-p.stopped:
		t.Fatal("the publisher stopped while a broadcaster's round trip was in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(release) // what closing the adapter's client does to the round trip
	err := <-own
	if !errors.Is(err, pubsub.ErrClosed) || !errors.Is(err, ErrMaybeDelivered) {
		t.Errorf("own round trip broken by Close: %v, want ErrMaybeDelivered and pubsub.ErrClosed", err)
	}
	<-p.stopped
	if err := p.publish(context.Background(), "ch", testFrame(t, 3)); !errors.Is(err, pubsub.ErrClosed) || errors.Is(err, ErrMaybeDelivered) {
		t.Errorf("broadcast after close: %v, want pubsub.ErrClosed (not sent)", err)
	}
}

// Many broadcasters, some whose contexts cannot end (they may send their own frames) and some whose
// contexts end at random moments, against round trips of random length: never two round trips at
// once, each broadcaster's frames sent in its order and intact, every answer to its own caller. Run
// with -race.
func TestPublisherCallerSendsRaces(t *testing.T) {
	const callers, each = 16, 300
	var inFlight, ownTrips, trips atomic.Int32
	var last [callers]int // per caller, the id of its last frame sent; only the sender touches it
	for i := range last {
		last[i] = -1
	}
	f := &fakeClient{roundTrip: func(ctx context.Context, cmds []redis.Cmder) error {
		if n := inFlight.Add(1); n != 1 {
			t.Errorf("%d round trips in flight at once", n)
		}
		defer inFlight.Add(-1)
		trips.Add(1)
		if onOwnGoroutine() {
			ownTrips.Add(1)
		}
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		}
		for _, c := range cmds {
			id := idOf(frameOf(t, c))
			if id < 0 {
				t.Errorf("a frame was overwritten before it was sent: %q", frameOf(t, c))
				continue
			}
			if g := id / each; id <= last[g] {
				t.Errorf("caller %d: frame %d sent after frame %d", g, id, last[g])
			} else {
				last[g] = id
			}
			c.SetErr(redisError("ERR frame " + strconv.Itoa(id)))
		}
		return nil
	}}
	p := startCallerSendsPublisher(t, f)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 256)
			for i := range each {
				id := g*each + i
				buf = append(buf[:0], testFrame(t, id)...)
				c, cancel := context.Background(), context.CancelFunc(func() {})
				if g%2 == 1 {
					c, cancel = context.WithTimeout(c, time.Duration(rand.IntN(300))*time.Microsecond)
				}
				err := p.publish(c, "ch", buf)
				cancel()
				for j := range buf {
					buf[j] = 'z'
				}
				answered := err != nil && err.Error() == "redisadapter: publish: ERR frame "+strconv.Itoa(id)
				switch {
				case answered:
				case g%2 == 0:
					t.Errorf("frame %d (a context that cannot end): got %v, want its own answer", id, err)
					return
				case errors.Is(err, ErrMaybeDelivered), errors.Is(err, context.DeadlineExceeded):
				default:
					t.Errorf("frame %d: got %v, want its own answer or a context error", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d round trips, %d of them on a broadcaster's goroutine", trips.Load(), ownTrips.Load())
	if ownTrips.Load() == 0 {
		t.Error("no broadcaster ever sent its own frame")
	}
}

// A broadcaster sending its own frame allocates nothing either.
func TestPublishCallerSendsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	f := &fakeClient{roundTrip: func(context.Context, []redis.Cmder) error { return nil }}
	p := startCallerSendsPublisher(t, f)
	frame := testFrame(t, 1)
	publish := func() {
		if err := p.publish(context.Background(), "ch", frame); err != nil {
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
