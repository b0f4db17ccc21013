package pubsub_test

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/phxgo/pubsub"
)

// wideRouter is router with 2^18 routes, a topic's route its FNV-1a hash (as redisadapter's buckets):
// a receiver of BenchmarkReceiveOutcome holds thousands of routes, as a node of the routing scenario does.
type wideRouter struct{ *router }

const wideRoutes = 1 << 18

func (wideRouter) Routes() int { return wideRoutes }
func (r wideRouter) Broadcast(_ context.Context, f pubsub.Frame) error {
	r.mu.Lock()
	r.frames = append(r.frames, routedFrame{r.Route(f.Topic), string(f.Bytes)})
	r.mu.Unlock()
	return nil
}
func (wideRouter) Route(topic string) int {
	h := fnv.New32a()
	h.Write([]byte(topic))
	return int(h.Sum32() % wideRoutes)
}

// BenchmarkReceiveOutcome is the per-frame part of redisadapter's BenchmarkRoutedReceive without the
// network: the cost of one frame read by a node of the 8-node scenario (100,000 topics, the node holds a
// random eighth in one subscriber whose mailbox is not read), by outcome. outcome=dropped is a frame on
// a topic nobody here holds (what routing saves a node from reading), outcome=delivered one that reaches
// the subscriber's mailbox (what a node reads in both modes); mode=routed numbers and checks frames per
// route. The frames are made by a sender PubSub beforehand and handed to the receiver's host in a loop,
// as the adapter's read loop does, so the figure leaves out reading the socket and waking up for it
// (docs/benchmarks.md, "Routed receive: where the CPU goes").
func BenchmarkReceiveOutcome(b *testing.B) {
	const topics, nodes = 100_000, 8
	for _, mode := range []string{"onechannel", "routed"} {
		for _, outcome := range []string{"dropped", "delivered"} {
			if mode == "routed" && outcome == "dropped" {
				continue // a routed node does not read the frames of topics it does not hold
			}
			b.Run("mode="+mode+"/outcome="+outcome, func(b *testing.B) {
				routed := mode == "routed"
				sr, rr := wideRouter{newRouter("s")}, wideRouter{newRouter("r")}
				st, rt := &tap{name: "s"}, &tap{name: "r"}
				var sender, recv *pubsub.PubSub
				if routed {
					sender, recv = newPS(b, pubsub.Config{Adapter: sr}), newPS(b, pubsub.Config{Adapter: rr})
				} else {
					sender, recv = newPS(b, pubsub.Config{Adapter: st}), newPS(b, pubsub.Config{Adapter: rt})
				}
				// The mailbox is drained outside the clock every drainAt messages, so that a long run does
				// not hold every message.
				const drainAt = 1 << 16
				sub := newSub(b, recv, pubsub.WithMailboxSize(2*drainAt))
				rng := rand.New(rand.NewPCG(1, 2))
				var held, other []string
				for i := range topics {
					topic := "topic:" + strconv.Itoa(i)
					if rng.IntN(nodes) == 0 {
						if err := sub.Subscribe(topic); err != nil {
							b.Fatal(err)
						}
						held = append(held, topic)
					} else {
						other = append(other, topic)
					}
				}
				pick := held
				if outcome == "dropped" {
					pick = other
				}
				// The sender's frames for random topics of pick, made outside the clock in batches.
				const batch = 1 << 14
				payload := make([]byte, 100)
				var frames []routedFrame
				refill := func() {
					for range batch {
						if err := sender.Broadcast(ctx, pick[rng.IntN(len(pick))], payload); err != nil {
							b.Fatal(err)
						}
					}
					if routed {
						frames = sr.take()
						return
					}
					st.mu.Lock()
					frames = frames[:0]
					for _, f := range st.sent {
						frames = append(frames, routedFrame{-1, f})
					}
					st.sent = st.sent[:0]
					st.mu.Unlock()
				}
				refill()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if i%batch == 0 && i > 0 {
						b.StopTimer()
						refill()
						if sub.Len() >= drainAt {
							for _, ok := sub.TryReceive(); ok; _, ok = sub.TryReceive() {
							}
						}
						b.StartTimer()
					}
					f := frames[i%batch]
					// A copy, as redisadapter hands over a frame read into its buffers.
					frame := strings.Clone(f.frame)
					var err error
					if routed {
						err = rr.host.HandleRoutedFrame(f.route, frame)
					} else {
						err = rt.host.HandleFrame(frame)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if st := recv.Stats(); outcome == "delivered" && st.Received != uint64(b.N) {
					b.Fatalf("received %d of %d", st.Received, b.N)
				}
			})
		}
	}
}
