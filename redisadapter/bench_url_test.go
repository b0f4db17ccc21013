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
// connection of its own (the adapter owns the client), without go-redis's pool. routed sets
// Config.RouteByTopic.
func urlNode(b *testing.B, url, name, node string, routed bool) (*pubsub.PubSub, *redisadapter.Adapter) {
	return startNode(b, name, redisadapter.Config{URL: url, NodeName: node, RouteByTopic: routed}, pubsub.Config{})
}

// BenchmarkRedisBroadcastURL is BenchmarkRedisBroadcast with the adapters' own clients (Config.URL),
// without the frames/roundtrip metric (there is no hook to count round trips with). The routed/
// sub-benchmarks run with Config.RouteByTopic on both nodes, the signed/ ones with pubsub.Config.Secrets
// (default layout).
func BenchmarkRedisBroadcastURL(b *testing.B) {
	for _, mode := range benchModes {
		for _, conc := range []int{1, 64, 1024} {
			b.Run(mode.prefix+"conc="+strconv.Itoa(conc), func(b *testing.B) {
				benchmarkRedisBroadcastURL(b, conc, mode.routed, false)
			})
		}
	}
	for _, conc := range []int{64, 1024} {
		b.Run("signed/conc="+strconv.Itoa(conc), func(b *testing.B) {
			benchmarkRedisBroadcastURL(b, conc, false, true)
		})
	}
}

func benchmarkRedisBroadcastURL(b *testing.B, conc int, routed, signed bool) {
	url := realRedisURL(b)
	name := uniqueName(b)
	var pcfg pubsub.Config
	if signed {
		pcfg.Secrets = [][]byte{[]byte("thirty-two bytes of secret......")}
	}
	a, _ := startNode(b, name, redisadapter.Config{URL: url, NodeName: "a", RouteByTopic: routed}, pcfg)
	nb, ab := startNode(b, name, redisadapter.Config{URL: url, NodeName: "b", RouteByTopic: routed}, pcfg)
	sub := newSub(b, nb, pubsub.WithMailboxSize(1<<16))
	subscribeBench(b, sub, "t")
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
	cnt.wait(b, func() string {
		return fmt.Sprintf("B stats %+v, dropped %d, B's PubSub %+v", ab.Stats(), sub.Dropped(), nb.Stats())
	})
	m.stop(b.N)
}

// BenchmarkRedisLatencyURL is BenchmarkRedisLatency with the adapters' own clients (Config.URL).
func BenchmarkRedisLatencyURL(b *testing.B) {
	url := realRedisURL(b)
	name := uniqueName(b)
	a, _ := urlNode(b, url, name, "a", false)
	nb, _ := urlNode(b, url, name, "b", false)
	benchmarkLatency(b, a, nb)
}

// BenchmarkRedisLatencyURLRouted is BenchmarkRedisLatencyURL with Config.RouteByTopic on both nodes:
// A, which has no subscriber, reads no echo of its own broadcasts.
func BenchmarkRedisLatencyURLRouted(b *testing.B) {
	url := realRedisURL(b)
	name := uniqueName(b)
	a, _ := urlNode(b, url, name, "a", true)
	nb, _ := urlNode(b, url, name, "b", true)
	benchmarkLatency(b, a, nb)
}
