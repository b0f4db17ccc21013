package redisadapter_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// urlNode starts a PubSub whose adapter makes its own client from url (Config.URL), as most programs
// do: unlike benchNode's (Config.Client, for its round-trip counter), its publisher sends on a
// connection of its own (the adapter owns the client), without go-redis's pool.
func urlNode(b *testing.B, url, name, node string) (*pubsub.PubSub, *redisadapter.Adapter) {
	return startNode(b, name, redisadapter.Config{URL: url, NodeName: node}, pubsub.Config{})
}

// BenchmarkRedisBroadcastURL is BenchmarkRedisBroadcast with the adapters' own clients (Config.URL),
// without the frames/roundtrip metric (there is no hook to count round trips with).
func BenchmarkRedisBroadcastURL(b *testing.B) {
	for _, conc := range []int{1, 64, 1024} {
		b.Run("conc="+strconv.Itoa(conc), func(b *testing.B) {
			url := realRedisURL(b)
			name := uniqueName(b)
			a, _ := urlNode(b, url, name, "a")
			nb, ab := urlNode(b, url, name, "b")
			sub := newSub(b, nb, pubsub.WithMailboxSize(1<<16))
			if err := sub.Subscribe("t"); err != nil {
				b.Fatal(err)
			}
			cnt := newCounter(b.N)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range sub.C() {
					cnt.add()
				}
			}()
			b.Cleanup(func() { sub.Close(); <-done })
			var payload any = make([]byte, payloadSize) // boxed once: the caller's conversion is not the adapter's cost
			info := plainClient(b, url)
			b.ReportAllocs()
			m := startMeter(b, info)
			broadcastConcurrently(b, conc, b.N, func() error { return a.Broadcast(ctx, "t", payload) })
			cnt.wait(b, func() string { return fmt.Sprintf("B stats %+v, dropped %d", ab.Stats(), sub.Dropped()) })
			m.stop(b.N)
		})
	}
}

// BenchmarkRedisLatencyURL is BenchmarkRedisLatency with the adapters' own clients (Config.URL).
func BenchmarkRedisLatencyURL(b *testing.B) {
	url := realRedisURL(b)
	name := uniqueName(b)
	a, _ := urlNode(b, url, name, "a")
	nb, _ := urlNode(b, url, name, "b")
	sub := newSub(b, nb, pubsub.WithMailboxSize(1<<12))
	if err := sub.Subscribe("t"); err != nil {
		b.Fatal(err)
	}
	lat := newLatencies(b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.C() {
			lat.record(msg.Payload.([]byte))
		}
	}()
	b.Cleanup(func() { sub.Close(); <-done })
	buf := make([]byte, payloadSize) // see BenchmarkRedisLatency
	var payload any = buf
	b.ResetTimer()
	pace(b, func() error {
		lat.stamp(buf)
		return a.Broadcast(ctx, "t", payload)
	})
	lat.report(b)
}
