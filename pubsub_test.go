package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
)

var ctx = context.Background()

func TestBroadcastReachesEverySubscriberOnce(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	a, b := subscribe(t, ps, "room"), subscribe(t, ps, "room")
	other := subscribe(t, ps, "other")
	if err := ps.Broadcast(ctx, "room", "hi"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*pubsub.Subscriber{a, b} {
		if msg := receive(t, s); msg.Topic != "room" || msg.Payload != "hi" {
			t.Fatalf("got %+v", msg)
		}
		assertEmpty(t, s)
	}
	assertEmpty(t, other)
}

func TestDuplicateSubscriptionsDeliverDuplicatesAndUnsubscribeDropsAll(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := subscribe(t, ps, "t", "t", "t", "keep")
	ps.Broadcast(ctx, "t", 1)
	for range 3 {
		receive(t, s)
	}
	assertEmpty(t, s)
	if err := s.Unsubscribe("t"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe("t"); err != nil {
		t.Fatalf("second Unsubscribe: %v", err)
	}
	if err := s.Unsubscribe("never"); err != nil {
		t.Fatalf("Unsubscribe of unknown topic: %v", err)
	}
	ps.Broadcast(ctx, "t", 2)
	assertEmpty(t, s)
	ps.Broadcast(ctx, "keep", 3)
	if msg := receive(t, s); msg.Payload != 3 {
		t.Fatalf("got %+v", msg)
	}
}

// Unsubscribing one subscriber must not disturb the others on the topic (the registry swaps entries).
func TestUnsubscribeKeepsOthers(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	subs := make([]*pubsub.Subscriber, 50)
	for i := range subs {
		subs[i] = subscribe(t, ps, "t")
	}
	for i := 0; i < len(subs); i += 3 {
		subs[i].Unsubscribe("t")
	}
	ps.Broadcast(ctx, "t", "x")
	for i, s := range subs {
		if i%3 == 0 {
			assertEmpty(t, s)
			continue
		}
		receive(t, s)
		assertEmpty(t, s)
	}
}

func TestBroadcastFromSkipsSenderLocally(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	sender, other := subscribe(t, ps, "t", "t"), subscribe(t, ps, "t")
	if err := ps.BroadcastFrom(ctx, sender, "t", "x"); err != nil {
		t.Fatal(err)
	}
	if err := ps.LocalBroadcastFrom(sender, "t", "y"); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, sender)
	if receive(t, other).Payload != "x" || receive(t, other).Payload != "y" {
		t.Fatal("wrong order or payload")
	}
}

func TestDirectBroadcast(t *testing.T) {
	ps := newPS(t, pubsub.Config{NodeName: "me"})
	s := subscribe(t, ps, "t")
	if err := ps.DirectBroadcast(ctx, "me", "t", 1); err != nil {
		t.Fatal(err)
	}
	receive(t, s)
	if err := ps.DirectBroadcast(ctx, "IDONTKNOW@127.0.0.1", "t", 2); err != nil {
		t.Fatalf("unknown node: %v", err)
	}
	assertEmpty(t, s)
	if err := ps.DirectBroadcast(ctx, "", "t", 3); !errors.Is(err, pubsub.ErrEmptyNode) {
		t.Fatalf("empty node: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	other := newPS(t, pubsub.Config{Name: "other"})
	s := newSub(t, ps)
	closed := newSub(t, ps)
	closed.Close()
	var nilSub *pubsub.Subscriber
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"subscribe empty topic", s.Subscribe(""), pubsub.ErrEmptyTopic},
		{"unsubscribe empty topic", s.Unsubscribe(""), pubsub.ErrEmptyTopic},
		{"subscribe nil subscriber", nilSub.Subscribe("t"), pubsub.ErrNilSubscriber},
		{"unsubscribe nil subscriber", nilSub.Unsubscribe("t"), pubsub.ErrNilSubscriber},
		{"subscribe closed subscriber", closed.Subscribe("t"), pubsub.ErrSubscriberClosed},
		{"unsubscribe closed subscriber", closed.Unsubscribe("t"), pubsub.ErrSubscriberClosed},
		{"broadcast empty topic", ps.Broadcast(ctx, "", 1), pubsub.ErrEmptyTopic},
		{"local broadcast empty topic", ps.LocalBroadcast("", 1), pubsub.ErrEmptyTopic},
		{"direct broadcast empty topic", ps.DirectBroadcast(ctx, "n", "", 1), pubsub.ErrEmptyTopic},
		{"broadcast from nil", ps.BroadcastFrom(ctx, nil, "t", 1), pubsub.ErrNilSubscriber},
		{"local broadcast from nil", ps.LocalBroadcastFrom(nil, "t", 1), pubsub.ErrNilSubscriber},
		{"broadcast from closed", ps.BroadcastFrom(ctx, closed, "t", 1), pubsub.ErrSubscriberClosed},
		{"broadcast from foreign", other.BroadcastFrom(ctx, s, "t", 1), pubsub.ErrForeignSubscriber},
		{"unknown dispatcher", ps.Broadcast(ctx, "t", 1, pubsub.WithDispatcher("nope")), pubsub.ErrUnknownDispatcher},
		{"unknown dispatcher local", ps.LocalBroadcast("t", 1, pubsub.WithDispatcher("nope")), pubsub.ErrUnknownDispatcher},
		{"unknown dispatcher direct", ps.DirectBroadcast(ctx, "n", "t", 1, pubsub.WithDispatcher("nope")), pubsub.ErrUnknownDispatcher},
		{"nil subscriber close", nilSub.Close(), nil},
	} {
		if !errors.Is(tc.err, tc.want) || (tc.want == nil) != (tc.err == nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

// HasDispatcher answers what a broadcast with WithDispatcher(name) would find.
func TestHasDispatcher(t *testing.T) {
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name: "x", Dispatchers: map[string]pubsub.Dispatcher{"mine": pubsub.DispatcherFunc(func([]pubsub.Entry, *pubsub.Subscriber, pubsub.Message) {})},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	for name, want := range map[string]bool{"": true, "mine": true, "nope": false, "Mine": false} {
		if got := ps.HasDispatcher(name); got != want {
			t.Errorf("HasDispatcher(%q) = %v, want %v", name, got, want)
		}
		err := ps.LocalBroadcast("t", 1, pubsub.WithDispatcher(name))
		if errors.Is(err, pubsub.ErrUnknownDispatcher) == want {
			t.Errorf("LocalBroadcast with %q: %v, but HasDispatcher says %v", name, err, want)
		}
	}
}

func TestCloseReturnsErrClosedEverywhere(t *testing.T) {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, ps, "t")
	ps.Broadcast(ctx, "t", "queued")
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ps.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if msg := receive(t, s); msg.Payload != "queued" {
		t.Fatalf("queued message lost: %+v", msg)
	}
	if _, err := s.Receive(ctx); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
	if _, ok := <-s.C(); ok {
		t.Fatal("C() not closed")
	}
	late, lateErr := ps.NewSubscriber()
	if late != nil {
		t.Error("NewSubscriber after Close returned a subscriber")
	}
	for name, err := range map[string]error{
		"NewSubscriber":      lateErr,
		"Broadcast":          ps.Broadcast(ctx, "t", 1),
		"BroadcastFrom":      ps.BroadcastFrom(ctx, s, "t", 1),
		"LocalBroadcast":     ps.LocalBroadcast("t", 1),
		"LocalBroadcastFrom": ps.LocalBroadcastFrom(s, "t", 1),
		"DirectBroadcast":    ps.DirectBroadcast(ctx, "n", "t", 1),
		"Subscribe":          s.Subscribe("t"),
		"Unsubscribe":        s.Unsubscribe("t"),
	} {
		if !errors.Is(err, pubsub.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if s.Deliver(pubsub.Message{Topic: "t"}) {
		t.Error("Deliver to a closed subscriber succeeded")
	}
}

func TestMustVariantsPanicWithBroadcastError(t *testing.T) {
	ps := newPS(t, pubsub.Config{NodeName: "me"})
	s := subscribe(t, ps, "t")
	ps.MustBroadcast(ctx, "t", 1) // no panic
	ps.MustBroadcastFrom(ctx, s, "t", 2)
	ps.MustDirectBroadcast(ctx, "me", "t", 3)
	receive(t, s)
	receive(t, s)
	for name, f := range map[string]func(){
		"MustBroadcast":       func() { ps.MustBroadcast(ctx, "", 1) },
		"MustBroadcastFrom":   func() { ps.MustBroadcastFrom(ctx, nil, "t", 1) },
		"MustDirectBroadcast": func() { ps.MustDirectBroadcast(ctx, "me", "t", 1, pubsub.WithDispatcher("nope")) },
	} {
		func() {
			defer func() {
				v := recover()
				be, ok := v.(*pubsub.BroadcastError)
				if !ok || be.Err == nil || !errors.Is(be, be.Err) {
					t.Errorf("%s panicked with %#v, want *BroadcastError", name, v)
				}
			}()
			f()
		}()
	}
}

func TestCustomDispatcherSeesAllEntriesMetadataAndFrom(t *testing.T) {
	type call struct {
		entries []pubsub.Entry
		from    *pubsub.Subscriber
		msg     pubsub.Message
	}
	var mu sync.Mutex
	var calls []call
	d := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
		mu.Lock()
		calls = append(calls, call{append([]pubsub.Entry(nil), entries...), from, msg})
		mu.Unlock()
	})
	ps := newPS(t, pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"custom": d}, PoolSize: 4})
	a := newSub(t, ps)
	a.Subscribe("t", pubsub.WithMetadata("special"))
	b := subscribe(t, ps, "t")

	ps.Broadcast(ctx, "empty", 0, pubsub.WithDispatcher("custom"))
	ps.BroadcastFrom(ctx, a, "t", 1, pubsub.WithDispatcher("custom"))
	ps.LocalBroadcast("t", 2, pubsub.WithDispatcher("custom"))
	if len(calls) != 2 {
		t.Fatalf("dispatcher called %d times, want 2 (never for a topic without subscribers)", len(calls))
	}
	c := calls[0]
	if c.from != a || c.msg.Payload != 1 || len(c.entries) != 2 {
		t.Fatalf("first call: %+v", c)
	}
	meta := map[*pubsub.Subscriber]any{}
	for _, e := range c.entries {
		meta[e.Subscriber] = e.Metadata
	}
	if meta[a] != "special" || meta[b] != nil || len(meta) != 2 {
		t.Fatalf("entries metadata = %v", meta)
	}
	if calls[1].from != nil {
		t.Fatalf("LocalBroadcast from = %v, want nil", calls[1].from)
	}
	assertEmpty(t, a) // the custom dispatcher delivered nothing itself
	assertEmpty(t, b)
}

// A dispatcher may subscribe and broadcast from inside Dispatch without deadlocking.
func TestDispatcherMayReenter(t *testing.T) {
	var ps *pubsub.PubSub
	var late *pubsub.Subscriber
	d := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
		late.Subscribe(msg.Topic)
		ps.LocalBroadcast(msg.Topic, "echo")
		pubsub.DefaultDispatcher().Dispatch(entries, from, msg)
	})
	ps = newPS(t, pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"re": d}})
	late = newSub(t, ps)
	s := subscribe(t, ps, "t")
	done := make(chan struct{})
	go func() {
		defer close(done)
		ps.LocalBroadcast("t", "orig", pubsub.WithDispatcher("re"))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: dispatcher re-entering the PubSub")
	}
	if receive(t, s).Payload != "echo" || receive(t, s).Payload != "orig" || receive(t, late).Payload != "echo" {
		t.Fatal("unexpected deliveries")
	}
}

// An episode begins at the first overflow and ends when the mailbox has drained to half; a consumer
// that hovers at its limit gets one report, not one per drop.
func TestSlowConsumerDropsCountsAndReportsOncePerEpisode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reports := make(chan pubsub.SlowConsumer, 10)
		ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "slow", OnSlowConsumer: func(e pubsub.SlowConsumer) { reports <- e }})
		if err != nil {
			t.Fatal(err)
		}
		defer ps.Close()
		s := newSub(t, ps, pubsub.WithMailboxSize(4))
		s.Subscribe("t")
		noReport := func(when string) {
			t.Helper()
			synctest.Wait()
			select {
			case e := <-reports:
				t.Fatalf("%s: unexpected report %+v", when, e)
			default:
			}
		}
		for i := range 10 {
			ps.Broadcast(ctx, "t", i)
		}
		if got := s.Dropped(); got != 6 {
			t.Fatalf("Dropped = %d, want 6", got)
		}
		synctest.Wait()
		select {
		case e := <-reports:
			// The report carries Dropped() when the reporter made it, which may be before the last of
			// the six drops: the reporter is woken by the first and runs on the other P meanwhile.
			if e.SubscriberID != s.ID() || e.MailboxSize != 4 || e.Dropped < 1 || e.Dropped > 6 {
				t.Fatalf("report = %+v, want Dropped 1…6", e)
			}
		default:
			t.Fatal("no report")
		}
		if got := receive(t, s).Payload; got != 0 { // DropNewest keeps the oldest
			t.Fatalf("kept %v, want 0", got)
		}
		// The read made room behind C: let the mailbox's pump account for it (for an instant after a read
		// from a backlog the mailbox may count one message too many: see Subscriber.Len).
		synctest.Wait()
		ps.Broadcast(ctx, "t", 10) // fits: the consumer hovers at its limit
		ps.Broadcast(ctx, "t", 11) // dropped
		time.Sleep(time.Second)
		noReport("hovering at the limit")
		receive(t, s)
		receive(t, s) // drained to half: the episode ends at the next check
		time.Sleep(100 * time.Millisecond)
		for i := range 3 {
			ps.Broadcast(ctx, "t", 20+i) // two fit, one overflows: a new episode
		}
		synctest.Wait()
		select {
		case e := <-reports:
			if e.Dropped != 8 {
				t.Fatalf("second episode report = %+v, want Dropped 8", e)
			}
		default:
			t.Fatal("no report for the second episode")
		}
		noReport("after the second report")
	})
}

// A panicking OnSlowConsumer is logged, and later episodes are still reported.
func TestSlowConsumerCallbackPanicIsContained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		ps, _ := pubsub.New(context.Background(), pubsub.Config{Name: "p", OnSlowConsumer: func(pubsub.SlowConsumer) { calls++; panic("boom") }})
		defer ps.Close()
		for range 2 {
			s := newSub(t, ps, pubsub.WithMailboxSize(1))
			s.Subscribe("t")
			ps.Broadcast(ctx, "t", 1)
			ps.Broadcast(ctx, "t", 2)
			s.Close()
			synctest.Wait()
		}
		if calls != 2 {
			t.Fatalf("callback ran %d times, want 2", calls)
		}
	})
}

func TestDropOldestKeepsNewest(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := newSub(t, ps, pubsub.WithMailboxSize(3), pubsub.WithOverflow(pubsub.DropOldest))
	s.Subscribe("t")
	for i := range 10 {
		ps.Broadcast(ctx, "t", i)
	}
	for want := 7; want < 10; want++ {
		if got := receive(t, s).Payload; got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if s.Dropped() != 7 {
		t.Fatalf("Dropped = %d, want 7", s.Dropped())
	}
}

// received + dropped == broadcast, per subscriber, and each broadcaster's messages arrive in order,
// while subscribers read slowly and other broadcasters interleave.
func TestOrderAndNothingLostSilently(t *testing.T) {
	const broadcasters, perBroadcaster = 4, 5000
	ps := newPS(t, pubsub.Config{})
	subs := make([]*pubsub.Subscriber, 3)
	var wg sync.WaitGroup
	results := make([][broadcasters]int, len(subs))
	for i := range subs {
		subs[i] = newSub(t, ps, pubsub.WithMailboxSize(64))
		subs[i].Subscribe("t")
		wg.Go(func() {
			last := [broadcasters]int{-1, -1, -1, -1}
			for msg := range subs[i].C() {
				p := msg.Payload.([2]int)
				if p[1] <= last[p[0]] {
					t.Errorf("subscriber %d: broadcaster %d sent %d after %d", i, p[0], p[1], last[p[0]])
				}
				last[p[0]] = p[1]
				results[i][p[0]]++
			}
		})
	}
	var bwg sync.WaitGroup
	for b := range broadcasters {
		bwg.Go(func() {
			for n := range perBroadcaster {
				if err := ps.Broadcast(ctx, "t", [2]int{b, n}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	bwg.Wait()
	for _, s := range subs {
		s.Close()
	}
	wg.Wait()
	for i, s := range subs {
		received := 0
		for _, n := range results[i] {
			received += n
		}
		if got := uint64(received) + s.Dropped(); got != broadcasters*perBroadcaster {
			t.Errorf("subscriber %d: received %d + dropped %d = %d, want %d", i, received, s.Dropped(), got, broadcasters*perBroadcaster)
		}
	}
}

// Broadcasters, subscribers joining and leaving, subscriber closes and the PubSub's Close all race.
func TestConcurrencyChaos(t *testing.T) {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "chaos", PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"a", "b", "c", "d"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var broadcasts atomic.Int64
	for i := range 6 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				err := ps.Broadcast(ctx, topics[(i+n)%len(topics)], n)
				if err != nil && !errors.Is(err, pubsub.ErrClosed) {
					t.Errorf("Broadcast: %v", err)
					return
				}
				broadcasts.Add(1)
			}
		})
	}
	for i := range 6 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				s, err := ps.NewSubscriber(pubsub.WithMailboxSize(8))
				if errors.Is(err, pubsub.ErrClosed) {
					return // the chaos ended with the PubSub's Close
				} else if err != nil {
					t.Error(err)
					return
				}
				for _, topic := range topics[:1+(i+n)%len(topics)] {
					s.Subscribe(topic, pubsub.WithMetadata(n))
				}
				go func() { // a reader that leaves when the mailbox closes
					for range s.C() {
					}
				}()
				s.Unsubscribe(topics[n%len(topics)])
				if n%2 == 0 {
					s.Close()
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if broadcasts.Load() == 0 {
		t.Fatal("no broadcast ran")
	}
}

func TestDeliverIsSafeAgainstConcurrentClose(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	for range 200 {
		s := newSub(t, ps, pubsub.WithMailboxSize(1))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 50 {
					s.Deliver(pubsub.Message{Topic: "t"})
				}
			})
		}
		wg.Go(func() { s.Close() })
		wg.Wait()
	}
}

func ExampleSubscriber_Receive() {
	ctx := context.Background()
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "example"})
	if err != nil {
		panic(err)
	}
	defer ps.Close()
	sub, err := ps.NewSubscriber()
	if err != nil {
		panic(err)
	}
	if err := sub.Subscribe("user:123"); err != nil {
		panic(err)
	}
	if err := ps.Broadcast(ctx, "user:123", "hello"); err != nil {
		panic(err)
	}
	msg, err := sub.Receive(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.Topic, msg.Payload)
	// Output: user:123 hello
}

func TestDoneAndAfterClose(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := newSub(t, ps)
	ran := make(chan string, 3)
	s.AfterClose(func() { ran <- "a" })
	stop := s.AfterClose(func() { ran <- "stopped" })
	if !stop() || stop() {
		t.Fatal("stop should report true once, then false")
	}
	done := s.Done()
	select {
	case <-done:
		t.Fatal("Done closed early")
	default:
	}
	s.Close()
	<-done
	if got := <-ran; got != "a" {
		t.Fatalf("ran %q", got)
	}
	s.AfterClose(func() { ran <- "late" }) // after Close: runs at once
	if got := <-ran; got != "late" {
		t.Fatalf("ran %q", got)
	}
	other := newSub(t, ps)
	ps.Close()
	<-other.Done()
	select {
	case got := <-ran:
		t.Fatalf("unexpected %q", got)
	default:
	}
}

// One sentinel answers "is it over?": a closed subscriber's errors match ErrClosed too, and
// ErrSubscriberClosed stays distinguishable.
func TestClosedErrorsMatchErrClosed(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := newSub(t, ps)
	s.Close()
	err := s.Subscribe("t")
	if !errors.Is(err, pubsub.ErrSubscriberClosed) || !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want it to match ErrSubscriberClosed and ErrClosed", err)
	}
	if errors.Is(pubsub.ErrClosed, pubsub.ErrSubscriberClosed) {
		t.Error("ErrClosed matches ErrSubscriberClosed: the match must go one way only")
	}
	if mine := pubsub.ClosedError("mine: closed"); !errors.Is(mine, pubsub.ErrClosed) || mine.Error() != "mine: closed" {
		t.Errorf("ClosedError: %v", mine)
	}
}

// CloseOnOverflow closes a subscriber whose mailbox overflows: its reader drains what was queued, then
// learns why in-band (C closes, Receive returns ErrSlowConsumer), and the report names the subscriber.
func TestCloseOnOverflow(t *testing.T) {
	reports := make(chan pubsub.SlowConsumer, 1)
	ps := newPS(t, pubsub.Config{OnSlowConsumer: func(e pubsub.SlowConsumer) { reports <- e }})
	s := newSub(t, ps, pubsub.WithMailboxSize(2), pubsub.WithOverflow(pubsub.CloseOnOverflow))
	s.Subscribe("t")
	for i := range 5 {
		if err := ps.Broadcast(context.Background(), "t", i); err != nil {
			t.Fatal(err)
		}
	}
	var r pubsub.SlowConsumer
	select {
	case r = <-reports:
	case <-time.After(5 * time.Second):
		t.Fatal("no slow-consumer report")
	}
	if r.Subscriber != s || r.SubscriberID != s.ID() || r.Dropped == 0 {
		t.Errorf("report %+v does not name the subscriber", r)
	}
	for want := range 2 {
		if msg := receive(t, s); msg.Payload != want {
			t.Fatalf("queued message %d: got %v", want, msg.Payload)
		}
	}
	_, err := s.Receive(context.Background())
	if !errors.Is(err, pubsub.ErrSlowConsumer) || !errors.Is(err, pubsub.ErrSubscriberClosed) || !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Receive after the queue drained: %v, want ErrSlowConsumer", err)
	}
	if !errors.Is(s.Err(), pubsub.ErrSlowConsumer) {
		t.Errorf("Err() = %v", s.Err())
	}
	if err := s.Subscribe("t"); !errors.Is(err, pubsub.ErrSlowConsumer) {
		t.Errorf("Subscribe after the close: %v", err)
	}
	if err := ps.Broadcast(context.Background(), "t", "more"); err != nil {
		t.Errorf("broadcasting after the close: %v", err)
	}
}

// NewSubscriber reports an invalid option instead of ignoring it.
func TestNewSubscriberRejectsBadOptions(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	for name, opt := range map[string]pubsub.MailboxOption{
		"size 0":         pubsub.WithMailboxSize(0),
		"size -1":        pubsub.WithMailboxSize(-1),
		"unknown policy": pubsub.WithOverflow(pubsub.OverflowPolicy(99)),
	} {
		if s, err := ps.NewSubscriber(opt); !errors.Is(err, pubsub.ErrInvalidConfig) || s != nil {
			t.Errorf("%s: NewSubscriber = %v, %v; want ErrInvalidConfig and no subscriber", name, s, err)
		}
	}
	s := newSub(t, ps, pubsub.WithMailboxSize(3), pubsub.WithOverflow(pubsub.DropOldest))
	if s.Cap() != 3 {
		t.Errorf("mailbox of %d, want 3", s.Cap())
	}
}
