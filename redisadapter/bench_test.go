package redisadapter_test

// Benchmarks of the Redis path, against a real redis-server (PHXGO_REDIS_URL; skipped without it).
// docs/benchmarks.md has the figures and the commands that produced them.
//
// Every throughput benchmark here is end to end: b.N messages are published and the clock stops when
// the receiving side has counted all of them. ns/op is therefore per message; msg/s is the same figure
// inverted. cpu-µs/msg is this process's user+sys CPU (both nodes, or publisher and subscriber, run in
// it) per message; redis-cpu-µs/msg is redis-server's, from INFO cpu. Compare every figure with
// BenchmarkBaselineGoRedis of the same run: the machine is small and shared, so only ratios within one
// run mean much.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// payloadSize is the size of every benchmark payload, as in the targets (100-byte messages).
const payloadSize = 100

// drainTimeout bounds the wait for the last messages: a run that loses messages fails instead of hanging.
const drainTimeout = 30 * time.Second

// cpuTime returns this process's user+sys CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU returns redis-server's user+sys CPU time (INFO cpu), or 0 when it cannot be read.
func redisCPU(c *redis.Client) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// meter measures a timed section: wall time, this process's CPU and redis-server's CPU.
type meter struct {
	b               *testing.B
	info            *redis.Client
	cpu0, redisCPU0 time.Duration
}

func startMeter(b *testing.B, info *redis.Client) *meter {
	m := &meter{b: b, info: info, redisCPU0: redisCPU(info), cpu0: cpuTime()}
	b.ResetTimer()
	return m
}

// stop stops the timer and reports throughput and CPU per message for n messages.
func (m *meter) stop(n int) {
	m.b.StopTimer()
	cpu := cpuTime() - m.cpu0
	rcpu := redisCPU(m.info) - m.redisCPU0
	m.b.ReportMetric(float64(n)/m.b.Elapsed().Seconds(), "msg/s")
	m.b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(n), "cpu-µs/msg")
	if m.redisCPU0 != 0 {
		m.b.ReportMetric(float64(rcpu.Nanoseconds())/1e3/float64(n), "redis-cpu-µs/msg")
	}
}

// counter counts messages until it reaches a target, then closes done.
type counter struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func newCounter(target int) *counter {
	c := &counter{target: int64(target), done: make(chan struct{})}
	if target == 0 {
		close(c.done)
	}
	return c
}

func (c *counter) add() {
	if c.n.Add(1) == c.target {
		close(c.done)
	}
}

func (c *counter) wait(b *testing.B, what func() string) {
	select {
	case <-c.done:
	case <-time.After(drainTimeout):
		b.Fatalf("received %d of %d after %v: %s", c.n.Load(), c.target, drainTimeout, what())
	}
}

// subscribeRaw subscribes a plain go-redis client to channel, waits for the confirmation, and counts
// every message it then receives on a goroutine of its own, reading with Receive as receive.go does.
func subscribeRaw(b *testing.B, c *redis.Client, channel string, onMessage func(*redis.Message)) {
	sub := c.Subscribe(ctx, channel)
	if _, err := sub.Receive(ctx); err != nil { // the subscribe confirmation
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msg, err := sub.Receive(ctx)
			if err != nil {
				return
			}
			if m, ok := msg.(*redis.Message); ok {
				onMessage(m)
			}
		}
	}()
	b.Cleanup(func() { sub.Close(); wg.Wait() })
}

// BenchmarkBaselineGoRedis is the pipelined ceiling of the Redis path: plain go-redis, one goroutine
// publishing 100-byte payloads in pipelines of batch commands (waiting for each pipeline, as the
// adapter's publisher does), one SUBSCRIBE connection reading them, end to end. frame=true publishes
// payloads the size of the adapter's frame for a 100-byte payload (the envelope adds ~45 bytes).
func BenchmarkBaselineGoRedis(b *testing.B) {
	for _, bc := range []struct {
		batch int
		size  int
	}{{1, payloadSize}, {10, payloadSize}, {64, payloadSize}, {100, payloadSize}, {512, payloadSize}, {512, frameSize}} {
		b.Run(fmt.Sprintf("batch=%d/size=%d", bc.batch, bc.size), func(b *testing.B) {
			url := realRedisURL(b)
			pub, subc, info := plainClient(b, url), plainClient(b, url), plainClient(b, url)
			channel := uniqueName(b)
			cnt := newCounter(b.N)
			subscribeRaw(b, subc, channel, func(*redis.Message) { cnt.add() })
			payload := make([]byte, bc.size)
			pipe := pub.Pipeline()
			b.ReportAllocs()
			m := startMeter(b, info)
			for sent := 0; sent < b.N; {
				n := min(bc.batch, b.N-sent)
				for range n {
					pipe.Publish(ctx, channel, payload)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			cnt.wait(b, func() string { return "baseline subscriber" })
			m.stop(b.N)
		})
	}
}

// frameSize is the size of the adapter's frame for a 100-byte []byte payload on topic "t" from node
// "a" (measured by TestFrameSize).
const frameSize = 151

// node starts a PubSub named name on a Redis adapter with its own client, which counts the pipelines
// and the frames in them.
func benchNode(b *testing.B, url, name, node string) (*pubsub.PubSub, *redisadapter.Adapter, *pipeCounter) {
	return benchNodeRouted(b, url, name, node, false)
}

// benchNodeRouted is benchNode, with Config.RouteByTopic when routed: the node subscribes only to the
// buckets of its subscribers' topics, so a node without subscribers (the benchmarks' node A) reads no
// echo of its own broadcasts.
func benchNodeRouted(b *testing.B, url, name, node string, routed bool) (*pubsub.PubSub, *redisadapter.Adapter, *pipeCounter) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	c := redis.NewClient(opt)
	pc := &pipeCounter{}
	c.AddHook(pc)
	b.Cleanup(func() { c.Close() }) // runs after the PubSub's Close, registered below
	ps, a := startNode(b, name, redisadapter.Config{Client: c, NodeName: node, RouteByTopic: routed}, pubsub.Config{})
	return ps, a, pc
}

// benchModes are the channel layouts the end-to-end benchmarks run in: "" is the default (one
// broadcast channel that every node, the sender included, subscribes to), "routed/" is
// Config.RouteByTopic (only B subscribes to the topic's bucket; A reads no echo).
var benchModes = []struct {
	prefix string
	routed bool
}{{"", false}, {"routed/", true}}

// subscribeBench subscribes sub to topic and, with routing, waits until Redis has confirmed its bucket.
func subscribeBench(b *testing.B, sub *pubsub.Subscriber, topic string) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sub.SubscribeContext(c, topic); err != nil {
		b.Fatal(err)
	}
}

// pipeCounter is a go-redis hook counting round trips (pipelines, and PUBLISH commands sent alone)
// and the commands in them.
type pipeCounter struct{ pipelines, cmds atomic.Int64 }

func (h *pipeCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *pipeCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "publish" {
			h.pipelines.Add(1)
			h.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *pipeCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (h *pipeCounter) reset() { h.pipelines.Store(0); h.cmds.Store(0) }

func (h *pipeCounter) report(b *testing.B) {
	if p := h.pipelines.Load(); p > 0 {
		b.ReportMetric(float64(h.cmds.Load())/float64(p), "frames/roundtrip")
	}
}

// broadcastConcurrently makes total Broadcasts of payload on topic from conc goroutines.
func broadcastConcurrently(b *testing.B, conc, total int, send func() error) {
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := range conc {
		n := total / conc
		if g < total%conc {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := send(); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRedisBroadcast is node A → a subscriber on node B, through two PubSubs with the Redis
// adapter: conc goroutines on A broadcast 100-byte payloads, and the clock stops when B's subscriber
// has received every one. Group commit needs concurrency: each Broadcast waits for Redis, so one
// broadcaster gets one frame per round trip.
//
// The routed/ sub-benchmarks run the same with Config.RouteByTopic on both nodes (conc 1, 64, 1024).
func BenchmarkRedisBroadcast(b *testing.B) {
	for _, mode := range benchModes {
		concs := []int{1, 10, 64, 256, 1024}
		if mode.routed {
			concs = []int{1, 64, 1024}
		}
		for _, conc := range concs {
			b.Run(mode.prefix+"conc="+strconv.Itoa(conc), func(b *testing.B) {
				benchmarkRedisBroadcast(b, conc, mode.routed)
			})
		}
	}
}

func benchmarkRedisBroadcast(b *testing.B, conc int, routed bool) {
	url := realRedisURL(b)
	name := uniqueName(b)
	a, _, pc := benchNodeRouted(b, url, name, "a", routed)
	nb, ab, _ := benchNodeRouted(b, url, name, "b", routed)
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
	pc.reset()
	m := startMeter(b, info)
	broadcastConcurrently(b, conc, b.N, func() error { return a.Broadcast(ctx, "t", payload) })
	cnt.wait(b, func() string { return fmt.Sprintf("B stats %+v, dropped %d", ab.Stats(), sub.Dropped()) })
	m.stop(b.N)
	pc.report(b)
}

// BenchmarkRedisSendPath measures the sending side alone: allocations and CPU per published frame,
// with nothing else in the process receiving. direct sends DirectBroadcast to a node that does not
// run, so no subscription anywhere sees the frames; broadcast sends Broadcast, whose frames come back
// to the sender's own subscription (and are dropped there by incarnation), so its allocations include
// that self-echo on the receive side. ns/op is per frame, the clock stopping when every call returned.
func BenchmarkRedisSendPath(b *testing.B) {
	for _, kind := range []string{"direct", "broadcast"} {
		for _, conc := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/conc=%d", kind, conc), func(b *testing.B) {
				url := realRedisURL(b)
				a, _, pc := benchNode(b, url, uniqueName(b), "a")
				var payload any = make([]byte, payloadSize) // boxed once, as above
				send := func() error { return a.DirectBroadcast(ctx, "nobody", "t", payload) }
				if kind == "broadcast" {
					send = func() error { return a.Broadcast(ctx, "t", payload) }
				}
				// Warm the pools and the connection.
				broadcastConcurrently(b, conc, 10*conc, send)
				info := plainClient(b, url)
				b.ReportAllocs()
				pc.reset()
				m := startMeter(b, info)
				broadcastConcurrently(b, conc, b.N, send)
				m.stop(b.N)
				pc.report(b)
			})
		}
	}
}

// TestFrameSize checks frameSize, the size of the frame the benchmarks' broadcasts put on the wire.
func TestFrameSize(t *testing.T) {
	_, url := miniURL(t)
	ps, _ := startNode(t, uniqueName(t), redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{})
	rdb := plainClient(t, url)
	sub := rdb.Subscribe(ctx, "phx:{"+ps.Name()+"}:broadcast")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ps.Broadcast(ctx, "t", make([]byte, payloadSize)); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		msg, err := sub.ReceiveMessage(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Payload) < payloadSize {
			continue // not our broadcast
		}
		if len(msg.Payload) != frameSize {
			t.Fatalf("frame is %d bytes; update frameSize", len(msg.Payload))
		}
		return
	}
}

// TestBatchesKeepFramesApart checks the publisher's reused commands: many goroutines interleave
// broadcasts and direct broadcasts, so batches mix channels and reuse each command for frames of both.
// Every frame must arrive once, on its own channel only, and in each goroutine's order.
func TestBatchesKeepFramesApart(t *testing.T) {
	_, url := miniURL(t)
	name := uniqueName(t)
	a, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{})
	b, ab := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
	c, ac := startNode(t, name, redisadapter.Config{URL: url, NodeName: "c"}, pubsub.Config{})
	const goroutines, each = 16, 50
	sb := newSub(t, b, pubsub.WithMailboxSize(2*goroutines*each))
	sc := newSub(t, c, pubsub.WithMailboxSize(2*goroutines*each))
	for _, s := range []*pubsub.Subscriber{sb, sc} {
		s.Subscribe("broadcast")
		s.Subscribe("direct")
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := fmt.Sprintf("%d:%d", g, i)
				if err := a.Broadcast(ctx, "broadcast", msg); err != nil {
					t.Error(err)
					return
				}
				if err := a.DirectBroadcast(ctx, "b", "direct", msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	check := func(s *pubsub.Subscriber, want map[string]int) {
		t.Helper()
		total := 0
		for _, n := range want {
			total += n
		}
		next := map[string][]int{"broadcast": make([]int, goroutines), "direct": make([]int, goroutines)}
		for range total {
			msg := receive(t, s)
			var g, i int
			if _, err := fmt.Sscanf(msg.Payload.(string), "%d:%d", &g, &i); err != nil {
				t.Fatalf("payload %q: %v", msg.Payload, err)
			}
			seq, ok := next[msg.Topic]
			if !ok || want[msg.Topic] == 0 {
				t.Fatalf("unexpected message on %q", msg.Topic)
			}
			if i != seq[g] {
				t.Fatalf("%s from goroutine %d: got #%d, want #%d", msg.Topic, g, i, seq[g])
			}
			seq[g]++
		}
		assertQuiet(t, s, 50*time.Millisecond)
	}
	check(sb, map[string]int{"broadcast": goroutines * each, "direct": goroutines * each})
	check(sc, map[string]int{"broadcast": goroutines * each})
	for _, ad := range []*redisadapter.Adapter{ab, ac} {
		if st := ad.Stats(); st.Dropped() != 0 || st.Reconnects != 0 {
			t.Errorf("stats %+v", st)
		}
	}
	for _, ps := range []*pubsub.PubSub{b, c} {
		if st := ps.Stats(); st.Dropped() != 0 || st.GapsReported != 0 {
			t.Errorf("%s: stats %+v", ps.NodeName(), st)
		}
	}
}
