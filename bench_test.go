package pubsub_test

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/phxgo/pubsub"
)

// BenchmarkFloorChannel is the floor every local figure is compared with: one goroutine sends on a
// buffered channel, another receives, end to end.
func BenchmarkFloorChannel(b *testing.B) {
	ch := make(chan pubsub.Message, 4096)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	msg := pubsub.Message{Topic: "t", Payload: "x"}
	b.ReportAllocs()
	for b.Loop() {
		ch <- msg
	}
	close(ch)
	<-done
}

// BenchmarkBroadcastOneSubscriber is Broadcast to one subscriber, end to end: a second goroutine
// receives every message. The broadcaster spins (yielding) when the mailbox is full rather than
// dropping, so that the figure counts deliveries only.
func BenchmarkBroadcastOneSubscriber(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	sub := newSub(b, ps, pubsub.WithMailboxSize(4096))
	sub.Subscribe("t")
	var received atomic.Int64
	done := make(chan struct{})
	go func() {
		for range sub.C() {
			received.Add(1)
		}
		close(done)
	}()
	var payload any = "preallocated"
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for sub.Len() == sub.Cap() {
			runtime.Gosched()
		}
		ps.Broadcast(ctx, "t", payload)
		n++
	}
	sub.Close()
	<-done
	if d := sub.Dropped(); d != 0 || received.Load() != int64(n) {
		b.Fatalf("received %d, dropped %d of %d", received.Load(), d, n)
	}
}

// BenchmarkBroadcastOneSubscriberPrealloc is BenchmarkBroadcastOneSubscriber with the whole mailbox
// preallocated in C (WithPrealloc), as every mailbox was before it grew on demand.
func BenchmarkBroadcastOneSubscriberPrealloc(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	sub := newSub(b, ps, pubsub.WithMailboxSize(4096), pubsub.WithPrealloc(4096))
	sub.Subscribe("t")
	var received atomic.Int64
	done := make(chan struct{})
	go func() {
		for range sub.C() {
			received.Add(1)
		}
		close(done)
	}()
	var payload any = "preallocated"
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for len(sub.C()) == cap(sub.C()) { // C holds the whole mailbox: its len is the mailbox's
			runtime.Gosched()
		}
		ps.Broadcast(ctx, "t", payload)
		n++
	}
	sub.Close()
	<-done
	if d := sub.Dropped(); d != 0 || received.Load() != int64(n) {
		b.Fatalf("received %d, dropped %d of %d", received.Load(), d, n)
	}
}

// BenchmarkBroadcastOneSubscriberHandler is BenchmarkBroadcastOneSubscriber with a handler
// (WithHandler) instead of a goroutine reading C.
func BenchmarkBroadcastOneSubscriberHandler(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	var received atomic.Int64
	sub := newSub(b, ps, pubsub.WithMailboxSize(4096), pubsub.WithHandler(func(pubsub.Message) { received.Add(1) }))
	sub.Subscribe("t")
	var payload any = "preallocated"
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for sub.Len() == sub.Cap() {
			runtime.Gosched()
		}
		ps.Broadcast(ctx, "t", payload)
		n++
	}
	for received.Load() != int64(n) && sub.Dropped() == 0 {
		runtime.Gosched()
	}
	if d := sub.Dropped(); d != 0 || received.Load() != int64(n) {
		b.Fatalf("received %d, dropped %d of %d", received.Load(), d, n)
	}
}

// drainAll empties every mailbox (with the timer stopped by the caller).
func drainAll(subs []*pubsub.Subscriber) {
	for _, s := range subs {
		for _, ok := s.TryReceive(); ok; _, ok = s.TryReceive() {
		}
	}
}

// BenchmarkFanout10k is one Broadcast to 10 000 subscribers of one topic; ns/op is per broadcast.
// keep-up: the readers keep up, so every mailbox is empty when a broadcast comes (each is drained with
// the timer stopped). burst-64: 64 broadcasts pile up in every mailbox before it is drained, so most
// deliveries go to the mailbox's ring behind its channel, and each mailbox starts a pump goroutine per
// burst. Every delivery is queued, none dropped.
func BenchmarkFanout10k(b *testing.B) {
	for _, every := range []int{1, 64} {
		b.Run(fanoutName(every), func(b *testing.B) {
			const n = 10_000
			ps := newPS(b, pubsub.Config{})
			subs := make([]*pubsub.Subscriber, n)
			for i := range subs {
				subs[i] = newSub(b, ps, pubsub.WithMailboxSize(64))
				subs[i].Subscribe("room")
			}
			var payload any = "preallocated"
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%every == 0 {
					b.StopTimer()
					drainAll(subs)
					b.StartTimer()
				}
				ps.Broadcast(ctx, "room", payload)
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i)/n, "ns/delivery")
			for _, s := range subs {
				if s.Dropped() != 0 {
					b.Fatalf("dropped %d", s.Dropped())
				}
			}
		})
	}
}

func fanoutName(every int) string {
	if every == 1 {
		return "keep-up"
	}
	return "burst-" + strconv.Itoa(every)
}

// BenchmarkManyTopics broadcasts round-robin over 100 000 topics with one subscriber each; ns/op is
// per delivery.
func BenchmarkManyTopics(b *testing.B) {
	const n = 100_000
	ps := newPS(b, pubsub.Config{})
	subs := make([]*pubsub.Subscriber, n)
	topics := make([]string, n)
	for i := range subs {
		topics[i] = "topic:" + strconv.Itoa(i)
		subs[i] = newSub(b, ps, pubsub.WithMailboxSize(2))
		subs[i].Subscribe(topics[i])
	}
	var payload any = "preallocated"
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == 2*n {
			b.StopTimer()
			drainAll(subs)
			i = 0
			b.StartTimer()
		}
		ps.Broadcast(ctx, topics[i%n], payload)
		i++
	}
	for _, s := range subs {
		if s.Dropped() != 0 {
			b.Fatalf("dropped %d", s.Dropped())
		}
	}
}

// BenchmarkBroadcastParallel runs broadcasters on distinct topics on every P (compare -cpu 1,2): with no
// global lock, throughput grows with cores.
func BenchmarkBroadcastParallel(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	var next atomic.Int64
	var payload any = "preallocated"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		topic := "t" + strconv.FormatInt(next.Add(1), 10)
		s := newSub(b, ps, pubsub.WithMailboxSize(1024))
		s.Subscribe(topic)
		i := 0
		for pb.Next() {
			if i++; i == 1024 {
				for _, ok := s.TryReceive(); ok; _, ok = s.TryReceive() {
				}
				i = 0
			}
			ps.Broadcast(ctx, topic, payload)
		}
	})
}

// BenchmarkSubscribe subscribes one subscriber to ever new topics; BenchmarkUnsubscribe removes them.
// Both while the subscriber holds 100 000 other subscriptions (Phoenix's unsubscribe is O(held)).
func BenchmarkSubscribe(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	s := holding(b, ps, 100_000)
	topics := names(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Subscribe(topics[i])
	}
}

func BenchmarkUnsubscribe(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	s := holding(b, ps, 100_000)
	topics := names(b.N)
	for _, t := range topics {
		s.Subscribe(t)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Unsubscribe(topics[i])
	}
}

// BenchmarkSubscribeExistingTopic is many subscribers joining one busy topic (a chat room), each
// holding 100 other subscriptions.
func BenchmarkSubscribeExistingTopic(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	subs := make([]*pubsub.Subscriber, 1000)
	for i := range subs {
		subs[i] = holding(b, ps, 100)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		subs[i%len(subs)].Subscribe("room")
		i++
	}
}

// BenchmarkSubscribeUnsubscribeCycle subscribes and unsubscribes one topic over and over, while the
// subscriber holds 100 000 others: the algorithmic cost, with the topic's memory hot in cache.
func BenchmarkSubscribeUnsubscribeCycle(b *testing.B) {
	ps := newPS(b, pubsub.Config{})
	s := holding(b, ps, 100_000)
	other := holding(b, ps, 0)
	other.Subscribe("room") // the topic outlives the cycle
	b.ReportAllocs()
	for b.Loop() {
		s.Subscribe("room")
		s.Unsubscribe("room")
	}
}

func holding(b *testing.B, ps *pubsub.PubSub, n int) *pubsub.Subscriber {
	s := newSub(b, ps)
	for i := range n {
		s.Subscribe("held:" + strconv.Itoa(i))
	}
	return s
}

func names(n int) []string {
	t := make([]string, n)
	for i := range t {
		t[i] = "new:" + strconv.Itoa(i)
	}
	return t
}

// BenchmarkMemoryPerSubscription reports the heap held per subscription at 1 M subscriptions, for two
// shapes: 1 000 subscribers × 1 000 topics (a fan-out of 1 000 on each), and 100 subscribers each on
// 10 000 topics of their own (every topic has one subscriber). Mailboxes are not counted (they are per
// subscriber: 32 B × mailbox size).
func BenchmarkMemoryPerSubscription(b *testing.B) {
	for _, shape := range []struct {
		name           string
		subs, topics   int
		topicsOwnedPer bool
	}{{"1000subs_x_1000topics", 1000, 1000, false}, {"100subs_x_10000own_topics", 100, 10_000, true}} {
		b.Run(shape.name, func(b *testing.B) {
			for b.Loop() {
				topics := make([]string, shape.topics*max(1, shape.subs*btoi(shape.topicsOwnedPer)))
				for i := range topics {
					topics[i] = "topic:" + strconv.Itoa(i)
				}
				ps := newPS(b, pubsub.Config{})
				subs := make([]*pubsub.Subscriber, shape.subs)
				for i := range subs {
					subs[i] = newSub(b, ps, pubsub.WithMailboxSize(1))
				}
				before := heap()
				for i, s := range subs {
					for j := range shape.topics {
						t := topics[j]
						if shape.topicsOwnedPer {
							t = topics[i*shape.topics+j]
						}
						s.Subscribe(t)
					}
				}
				after := heap()
				b.ReportMetric(float64(after-before)/float64(shape.subs*shape.topics), "B/subscription")
				runtime.KeepAlive(subs)
				runtime.KeepAlive(topics)
				ps.Close()
			}
		})
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func heap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBroadcastDoesNotAllocate holds the zero-allocation promise for a local broadcast of a
// preallocated payload, with the default dispatcher and with a custom one.
func TestBroadcastDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	var seen atomic.Int64
	d := pubsub.DispatcherFunc(func(entries []pubsub.Entry, _ *pubsub.Subscriber, _ pubsub.Message) { seen.Add(int64(len(entries))) })
	ps := newPS(t, pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"d": d}})
	var wg sync.WaitGroup
	s := newSub(t, ps, pubsub.WithMailboxSize(1<<16))
	s.Subscribe("t")
	var payload any = "preallocated"
	opt := []pubsub.BroadcastOption{pubsub.WithDispatcher("d")}
	for name, f := range map[string]func(){
		"Broadcast":      func() { ps.Broadcast(ctx, "t", payload) },
		"LocalBroadcast": func() { ps.LocalBroadcast("t", payload) },
		"BroadcastFrom":  func() { ps.BroadcastFrom(ctx, s, "t", payload) },
		"custom":         func() { ps.Broadcast(ctx, "t", payload, opt...) },
	} {
		if allocs := testing.AllocsPerRun(1000, f); allocs != 0 {
			t.Errorf("%s: %v allocations per broadcast, want 0", name, allocs)
		}
	}
	wg.Wait()
	if seen.Load() == 0 {
		t.Fatal("custom dispatcher not called")
	}
}

// BenchmarkFloorFanout10k is the floor under BenchmarkFanout10k: the same 10 000 non-blocking sends of
// one message, into 10 000 buffered channels of 64, with no registry, drained as often. ns/op is per
// fan-out.
func BenchmarkFloorFanout10k(b *testing.B) {
	for _, every := range []int{1, 64} {
		b.Run(fanoutName(every), func(b *testing.B) {
			const n = 10_000
			chans := make([]chan pubsub.Message, n)
			for i := range chans {
				chans[i] = make(chan pubsub.Message, 64)
			}
			msg := pubsub.Message{Topic: "room", Payload: "x"}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%every == 0 {
					b.StopTimer()
					drainChans(chans)
					b.StartTimer()
				}
				for _, ch := range chans {
					select {
					case ch <- msg:
					default:
					}
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i)/n, "ns/delivery")
		})
	}
}

// BenchmarkFloorManyChannels is the floor under BenchmarkManyTopics: non-blocking sends round-robin
// over 100 000 buffered channels, with no registry. ns/op is per delivery.
func BenchmarkFloorManyChannels(b *testing.B) {
	const n = 100_000
	chans := make([]chan pubsub.Message, n)
	for i := range chans {
		chans[i] = make(chan pubsub.Message, 2)
	}
	msg := pubsub.Message{Topic: "t", Payload: "x"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == 2*n {
			b.StopTimer()
			drainChans(chans)
			i = 0
			b.StartTimer()
		}
		select {
		case chans[i%n] <- msg:
		default:
		}
		i++
	}
}

func drainChans(chans []chan pubsub.Message) {
	for _, ch := range chans {
		for len(ch) > 0 {
			<-ch
		}
	}
}
