package pubsub_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
)

// readN reads n messages from s's C (waiting up to a second for each) and returns their payloads.
func readN(t *testing.T, s *pubsub.Subscriber, n int) []any {
	t.Helper()
	out := make([]any, 0, n)
	for range n {
		out = append(out, receive(t, s).Payload)
	}
	return out
}

func seqOf(from, to int) []any {
	out := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func equalAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A burst up to the bound is kept, in order, although the channel behind C holds only a few; the
// next message overflows. Each policy keeps its meaning on a mailbox that grew.
func TestMailboxBurstUpToTheBound(t *testing.T) {
	const bound = 300
	for _, tc := range []struct {
		policy pubsub.OverflowPolicy
		extra  int
		want   []any
	}{
		{pubsub.DropNewest, 50, seqOf(0, bound)},
		{pubsub.DropOldest, 50, seqOf(50, bound+50)},
		{pubsub.CloseOnOverflow, 50, seqOf(0, bound)},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			ps := newPS(t, pubsub.Config{})
			s := newSub(t, ps, pubsub.WithMailboxSize(bound), pubsub.WithOverflow(tc.policy))
			if err := s.Subscribe("t"); err != nil {
				t.Fatal(err)
			}
			for i := range bound {
				if err := ps.LocalBroadcast("t", i); err != nil {
					t.Fatal(err)
				}
			}
			if s.Len() != bound || s.Cap() != bound || s.Dropped() != 0 {
				t.Fatalf("after %d: Len %d, Cap %d, Dropped %d", bound, s.Len(), s.Cap(), s.Dropped())
			}
			if cap(s.C()) >= bound {
				t.Fatalf("C has room for %d: preallocated", cap(s.C()))
			}
			for i := bound; i < bound+tc.extra; i++ {
				ps.LocalBroadcast("t", i)
			}
			if d := s.Dropped(); d != uint64(tc.extra) && (tc.policy != pubsub.CloseOnOverflow || d == 0 || d > uint64(tc.extra)) {
				t.Errorf("Dropped %d, want %d", d, tc.extra) // CloseOnOverflow: 1…extra, the subscriber closes meanwhile
			}
			if n := s.Len(); n != bound {
				t.Errorf("Len %d after overflow, want %d", n, bound)
			}
			if got := readN(t, s, bound); !equalAny(got, tc.want) {
				t.Errorf("received %v\nwant %v", got, tc.want)
			}
			if tc.policy == pubsub.CloseOnOverflow {
				_, err := s.Receive(t.Context())
				if !errors.Is(err, pubsub.ErrSlowConsumer) {
					t.Fatalf("Receive after the queue: %v, want ErrSlowConsumer", err)
				}
				return
			}
			assertEmpty(t, s)
			ps.LocalBroadcast("t", "after")
			if got := receive(t, s).Payload; got != "after" {
				t.Errorf("after the drain: %v", got)
			}
		})
	}
}

// Many broadcasters at once to a reader that keeps up only partly: every message is received or
// counted as dropped, and each broadcaster's messages arrive in its order.
func TestMailboxConcurrentOrder(t *testing.T) {
	const (
		broadcasters = 4
		per          = 5000
		bound        = 64
	)
	for _, policy := range []pubsub.OverflowPolicy{pubsub.DropNewest, pubsub.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			ps := newPS(t, pubsub.Config{})
			s := newSub(t, ps, pubsub.WithMailboxSize(bound), pubsub.WithOverflow(policy))
			s.Subscribe("t")
			type m struct{ src, n int }
			var wg sync.WaitGroup
			for b := range broadcasters {
				wg.Go(func() {
					for n := range per {
						ps.LocalBroadcast("t", m{b, n})
						if n%97 == 0 {
							runtime.Gosched()
						}
					}
				})
			}
			sent := make(chan struct{})
			go func() { wg.Wait(); close(sent) }()
			last := make([]int, broadcasters)
			for i := range last {
				last[i] = -1
			}
			received := 0
			check := func(msg pubsub.Message) {
				v := msg.Payload.(m)
				if v.n <= last[v.src] {
					t.Fatalf("from %d: %d after %d", v.src, v.n, last[v.src])
				}
				last[v.src] = v.n
				received++
			}
		loop:
			for {
				select {
				case msg := <-s.C():
					check(msg)
					if received%50 == 0 {
						time.Sleep(10 * time.Microsecond) // fall behind now and then
					}
				case <-sent:
					break loop
				}
			}
			for msg, ok := s.TryReceive(); ok; msg, ok = s.TryReceive() {
				check(msg)
			}
			if total := received + int(s.Dropped()); total != broadcasters*per {
				t.Errorf("received %d + dropped %d = %d, want %d", received, s.Dropped(), total, broadcasters*per)
			}
		})
	}
}

// What was queued stays readable after Close, beyond what C's channel holds, then C closes.
func TestMailboxCloseKeepsBacklog(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := newSub(t, ps, pubsub.WithMailboxSize(100))
	s.Subscribe("t")
	for i := range 100 {
		ps.LocalBroadcast("t", i)
	}
	s.Close()
	if got := readN(t, s, 100); !equalAny(got, seqOf(0, 100)) {
		t.Fatalf("after Close: %v", got)
	}
	select {
	case _, ok := <-s.C():
		if ok {
			t.Fatal("a message after the backlog")
		}
	case <-time.After(time.Second):
		t.Fatal("C not closed after the backlog was read")
	}
	if d := s.Dropped(); d != 0 {
		t.Errorf("Dropped %d", d)
	}
}

// A closed subscriber whose reader has gone does not keep its backlog (and a goroutine) forever: after
// closeLinger the rest is dropped and counted, and C closes.
func TestMailboxCloseLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := newPS(t, pubsub.Config{})
		s := newSub(t, ps, pubsub.WithMailboxSize(50))
		s.Subscribe("t")
		for i := range 50 {
			ps.LocalBroadcast("t", i)
		}
		s.Close()
		<-s.C() // the reader takes one, then goes
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if s.Len() != 49 {
			t.Fatalf("Len %d before the linger ends, want 49", s.Len())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		n := 0
		for range s.C() { // what the channel held; then it is closed
			n++
		}
		if d := s.Dropped(); int(d)+n != 49 || n == 49 {
			t.Errorf("after the linger: %d left in C, %d dropped; want 49 in all, some dropped", n, d)
		}
	})
}

// The PubSub's Close stops the pumps of backlogged subscribers (goleak checks the rest).
func TestMailboxPubSubCloseStopsPump(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := newSub(t, ps, pubsub.WithMailboxSize(50))
	s.Subscribe("t")
	for i := range 50 {
		ps.LocalBroadcast("t", i)
	}
	ps.Close()
	n := 0
	for range s.C() {
		n++
	}
	if n == 0 || n+int(s.Dropped()) != 50 {
		t.Errorf("%d read, %d dropped, want 50 in all", n, s.Dropped())
	}
}

// An idle subscriber holds no goroutine, and one that had a burst gives its goroutine back once it has
// caught up.
func TestMailboxNoGoroutineWhenIdle(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	before := runtime.NumGoroutine()
	subs := make([]*pubsub.Subscriber, 100)
	var handled atomic.Int64
	for i := range subs {
		var opts []pubsub.MailboxOption
		if i%2 == 1 {
			opts = append(opts, pubsub.WithHandler(func(pubsub.Message) { handled.Add(1) }))
		}
		subs[i] = newSub(t, ps, opts...)
		subs[i].Subscribe("room")
	}
	for i := range 20 {
		ps.LocalBroadcast("room", i)
	}
	for i, s := range subs {
		if i%2 == 0 {
			readN(t, s, 20)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before || handled.Load() != 50*20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before; %d handled", runtime.NumGoroutine(), before, handled.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// A handler is called for each message, one at a time, in order; a panic is survived; after Close it is
// not called again.
func TestHandler(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	var (
		mu     sync.Mutex
		got    []any
		active atomic.Int32
		done   = make(chan struct{})
	)
	s := newSub(t, ps, pubsub.WithMailboxSize(2000), pubsub.WithHandler(func(m pubsub.Message) {
		if active.Add(1) != 1 {
			t.Error("handler called concurrently")
		}
		defer active.Add(-1)
		if m.Payload == "boom" {
			panic("boom")
		}
		mu.Lock()
		got = append(got, m.Payload)
		n := len(got)
		mu.Unlock()
		if n == 1000 {
			close(done)
		}
	}))
	if s.C() != nil {
		t.Fatal("C of a handler subscriber is not nil")
	}
	s.Subscribe("a")
	s.Subscribe("b")
	var wg sync.WaitGroup
	for _, topic := range []string{"a", "b"} {
		wg.Go(func() {
			for i := range 500 {
				ps.LocalBroadcast(topic, fmt.Sprint(topic, i))
				if i == 100 {
					ps.LocalBroadcast(topic, "boom")
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("handled %d of 1000 (dropped %d)", len(got), s.Dropped())
	}
	mu.Lock()
	next := map[byte]int{'a': 0, 'b': 0}
	for _, v := range got {
		str := v.(string)
		if want := fmt.Sprint(string(str[0]), next[str[0]]); str != want {
			t.Fatalf("got %s, want %s", str, want)
		}
		next[str[0]]++
	}
	mu.Unlock()
	s.Close()
	ps.LocalBroadcast("a", "late")
	time.Sleep(10 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1000 {
		t.Errorf("handled %d after Close, want 1000", len(got))
	}
	if _, err := s.Receive(t.Context()); !errors.Is(err, pubsub.ErrSubscriberClosed) {
		t.Errorf("Receive on a closed handler subscriber: %v", err)
	}
}

// A handler that falls behind has its mailbox bounded like any other: the overflow policy applies, and
// the broadcaster never waits for it.
func TestHandlerBounded(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	release, entered := make(chan struct{}), make(chan struct{}, 100)
	var handled atomic.Int64
	s := newSub(t, ps, pubsub.WithMailboxSize(10), pubsub.WithHandler(func(pubsub.Message) {
		entered <- struct{}{}
		<-release
		handled.Add(1)
	}))
	s.Subscribe("t")
	ps.LocalBroadcast("t", 0)
	<-entered
	for i := 1; i < 100; i++ {
		ps.LocalBroadcast("t", i) // returns although the handler is stuck
	}
	// One message is in the handler; ten wait; the rest were dropped.
	if d := s.Dropped(); d != 89 {
		t.Errorf("Dropped %d, want 89", d)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for handled.Load() != 11 {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d, want 11", handled.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHandlerNil(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	if _, err := ps.NewSubscriber(pubsub.WithHandler(nil)); !errors.Is(err, pubsub.ErrInvalidConfig) {
		t.Errorf("WithHandler(nil): %v", err)
	}
}

// WithPrealloc gives C room for the whole backlog: a burst up to it needs no pump, and len(C) tells.
func TestMailboxPrealloc(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := newSub(t, ps, pubsub.WithMailboxSize(100), pubsub.WithPrealloc(64))
	s.Subscribe("t")
	for i := range 100 {
		ps.LocalBroadcast("t", i)
	}
	if cap(s.C()) != 64 || len(s.C()) != 64 || s.Len() != 100 || s.Dropped() != 0 {
		t.Fatalf("cap %d, len %d, Len %d, Dropped %d", cap(s.C()), len(s.C()), s.Len(), s.Dropped())
	}
	if got := readN(t, s, 100); !equalAny(got, seqOf(0, 100)) {
		t.Fatalf("received %v", got)
	}
	if c := cap(newSub(t, ps, pubsub.WithMailboxSize(10), pubsub.WithPrealloc(64)).C()); c != 10 {
		t.Errorf("C of %d for a bound of 10", c)
	}
	for name, opts := range map[string][]pubsub.MailboxOption{
		"zero":         {pubsub.WithPrealloc(0)},
		"with handler": {pubsub.WithPrealloc(3), pubsub.WithHandler(func(pubsub.Message) {})},
	} {
		if _, err := ps.NewSubscriber(opts...); !errors.Is(err, pubsub.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
