package redisadapter_test

import (
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
)

// latencyInterval is the pace of the latency benchmarks: 500 messages a second, one every 2 ms.
const latencyInterval = 2 * time.Millisecond

// latencies collects one-way latencies, indexed by message number. Sender and receiver run in this
// process, so both read the same monotonic clock: the payload carries the send time as nanoseconds
// since base.
type latencies struct {
	base time.Time
	mu   sync.Mutex
	got  []time.Duration
	cnt  *counter
}

func newLatencies(n int) *latencies {
	return &latencies{base: time.Now(), got: make([]time.Duration, 0, n), cnt: newCounter(n)}
}

// stamp writes the send time into payload.
func (l *latencies) stamp(payload []byte) {
	binary.LittleEndian.PutUint64(payload, uint64(time.Since(l.base)))
}

// record notes the latency of a payload stamped by stamp.
func (l *latencies) record(payload []byte) {
	d := time.Since(l.base) - time.Duration(binary.LittleEndian.Uint64(payload))
	l.mu.Lock()
	l.got = append(l.got, d)
	l.mu.Unlock()
	l.cnt.add()
}

// report stops the timer and reports the 50th, 90th and 99th percentiles and the maximum, in µs.
func (l *latencies) report(b *testing.B) {
	l.cnt.wait(b, func() string { return "latency receiver" })
	b.StopTimer()
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.got)
	q := func(p float64) float64 {
		return float64(l.got[min(len(l.got)-1, int(p*float64(len(l.got))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.90), "p90-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(l.got[len(l.got)-1].Nanoseconds())/1e3, "max-µs")
}

// pace calls send b.N times, one call every latencyInterval.
func pace(b *testing.B, send func() error) {
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * latencyInterval)))
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisLatency is the one-way latency from a Broadcast on node A to the subscriber on node B
// receiving it from its mailbox, at 500 messages a second, 100-byte payloads. Every op is one message
// sent 2 ms after the previous one, so ns/op is the pace, not a cost; the figures are the p50-µs and
// p99-µs metrics. Run with -benchtime=5000x (10 s) for a p99 worth reading.
func BenchmarkRedisLatency(b *testing.B) {
	url := realRedisURL(b)
	name := uniqueName(b)
	a, _, _ := benchNode(b, url, name, "a")
	nb, _, _ := benchNode(b, url, name, "b")
	benchmarkLatency(b, a, nb)
}

// BenchmarkRedisLatencyRouted is BenchmarkRedisLatency with Config.RouteByTopic on both nodes: A,
// which has no subscriber, reads no echo of its own broadcasts.
func BenchmarkRedisLatencyRouted(b *testing.B) {
	url := realRedisURL(b)
	name := uniqueName(b)
	a, _, _ := benchNodeRouted(b, url, name, "a", true)
	nb, _, _ := benchNodeRouted(b, url, name, "b", true)
	benchmarkLatency(b, a, nb)
}

// benchmarkLatency paces b.N broadcasts on topic "t" from a to a subscriber on nb and reports the
// latency percentiles.
func benchmarkLatency(b *testing.B, a, nb *pubsub.PubSub) {
	sub := newSub(b, nb, pubsub.WithMailboxSize(1<<12))
	subscribeBench(b, sub, "t")
	lat := newLatencies(b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.C() {
			lat.record(msg.Payload.([]byte))
		}
	}()
	b.Cleanup(func() { sub.Close(); <-done })
	// A has no local subscriber, so the payload buffer can be reused: it is encoded before Broadcast
	// returns and never delivered in this process. B receives a decoded copy.
	buf := make([]byte, payloadSize)
	var payload any = buf
	b.ResetTimer()
	pace(b, func() error {
		lat.stamp(buf)
		return a.Broadcast(ctx, "t", payload)
	})
	lat.report(b)
}

// BenchmarkBaselineGoRedisLatency is the same measurement with plain go-redis: one PUBLISH per message
// (waited for, not pipelined) and a SUBSCRIBE connection read with Receive, the floor under
// BenchmarkRedisLatency.
func BenchmarkBaselineGoRedisLatency(b *testing.B) {
	url := realRedisURL(b)
	pub, subc := plainClient(b, url), plainClient(b, url)
	channel := uniqueName(b)
	lat := newLatencies(b.N)
	subscribeRaw(b, subc, channel, func(m *redis.Message) { lat.record([]byte(m.Payload)) })
	payload := make([]byte, payloadSize)
	b.ResetTimer()
	pace(b, func() error {
		lat.stamp(payload)
		return pub.Publish(ctx, channel, payload).Err()
	})
	lat.report(b)
}
