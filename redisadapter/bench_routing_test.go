package redisadapter_test

// Benchmarks of routing by topic (Config.RouteByTopic): docs/benchmarks.md, "Routing by topic".

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// The 8-node scenario of the routing issue: 100,000 topics, each node subscribed to a random eighth of
// them, uniform traffic from the other nodes.
const (
	scenarioTopics = 100_000
	scenarioNodes  = 8
)

func scenarioTopic(i int) string { return "topic:" + strconv.Itoa(i) }

// routedRate is the cluster's traffic in BenchmarkRoutedReceive, in broadcasts a second: what this
// small shared machine sustains in one-channel mode with room to spare. PHXGO_ROUTED_RATE overrides it.
func routedRate() float64 {
	if r, err := strconv.Atoi(os.Getenv("PHXGO_ROUTED_RATE")); err == nil && r > 0 {
		return float64(r)
	}
	return 40_000
}

// BenchmarkRoutedReceive measures what one of the 8 nodes spends receiving its share of the cluster's
// traffic, with routing (mode=routed) and without (mode=onechannel, where every node reads every
// broadcast). The node under test, in this process, holds 12,500 random topics; a child process (this
// test binary, TestRoutedReceivePublisher) stands for the 7 others and publishes b.N broadcasts on
// random topics of the 100,000, at routedRate a second (the same traffic in both modes: a node's
// receive cost per frame depends on how many frames each wakeup of its read loop finds). cpu-µs/published is this process's CPU per frame
// published in the cluster, from the child's first broadcast until the node has read the last frame
// that reaches it: the figure to compare between the modes (docs/benchmarks.md takes the ratio of
// medians). received/published is the share of the traffic the node read.
func BenchmarkRoutedReceive(b *testing.B) {
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" {
		b.Skip("set PHXGO_REDIS_URL to run the routing benchmarks")
	}
	for _, mode := range []string{"onechannel", "routed"} {
		b.Run("mode="+mode, func(b *testing.B) {
			if b.N > 1<<20 {
				b.Fatal("at most 2^20 broadcasts: the subscriber's mailbox holds an eighth of them")
			}
			name := uniqueName(b)
			routed := mode == "routed"
			ps, a := startNode(b, name, redisadapter.Config{URL: url, NodeName: "n0", RouteByTopic: routed}, pubsub.Config{})
			rng := rand.New(rand.NewPCG(1, 2))
			// The subscriber's mailbox holds every delivery of the run, and is read after it: the figure is
			// the cost of receiving (reading, checking, routing to the mailbox), not of an application
			// woken for each message.
			sub := newSub(b, ps, pubsub.WithMailboxSize(1<<18))
			held := 0
			for i := range scenarioTopics {
				if rng.IntN(scenarioNodes) == 0 {
					if err := sub.Subscribe(scenarioTopic(i)); err != nil {
						b.Fatal(err)
					}
					held++
				}
			}
			end := newSub(b, ps)
			c, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := end.SubscribeContext(c, "end"); err != nil {
				b.Fatal(err)
			}
			if routed {
				eventually(b, time.Minute, "every bucket confirmed", func() bool { r := a.Routing(); return r.Pending == 0 && r.Effective == r.Held })
			}
			var wg sync.WaitGroup
			wg.Go(func() { <-end.C() })
			b.Cleanup(func() { end.Close(); wg.Wait() })

			cmd := exec.Command(os.Args[0], "-test.run=^TestRoutedReceivePublisher$", "-test.count=1")
			cmd.Env = append(os.Environ(), "PHXGO_ROUTED_CHILD=1", "PHXGO_ROUTED_CHILD_URL="+url, "PHXGO_ROUTED_CHILD_NAME="+name,
				"PHXGO_ROUTED_CHILD_N="+strconv.Itoa(b.N), "PHXGO_ROUTED_CHILD_MODE="+mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			start, err := cmd.StdinPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 6)
			if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" { // the child's nodes are up
				b.Fatalf("child: %q, %v", buf, err)
			}
			received0 := a.Stats().Received
			stopProfile := profileWindow(b, mode)
			cpu0 := cpuTime()
			b.ResetTimer()
			if _, err := start.Write([]byte("go\n")); err != nil {
				b.Fatal(err)
			}
			wg.Wait() // "end", published after every broadcast, arrived
			b.StopTimer()
			cpu := cpuTime() - cpu0
			stopProfile()
			if err := cmd.Wait(); err != nil {
				b.Fatalf("child: %v", err)
			}
			received := a.Stats().Received - received0
			delivered := sub.Len()
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/published")
			b.ReportMetric(float64(received)/float64(b.N), "received/published")
			b.ReportMetric(float64(delivered)/float64(b.N), "delivered/published")
			b.ReportMetric(float64(held), "topics-held")
			if r := a.Routing(); routed {
				b.ReportMetric(float64(r.Effective), "buckets")
			}
		})
	}
}

// profileWindow starts a CPU profile of the measured window when PHXGO_ROUTED_PROFILE names a file
// prefix (the file is PREFIX-MODE.pprof), unlike -cpuprofile, which also profiles the set-up (12,500
// subscriptions, thousands of bucket subscriptions). It returns what stops it.
func profileWindow(b *testing.B, mode string) (stop func()) {
	prefix := os.Getenv("PHXGO_ROUTED_PROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "-" + mode + ".pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// TestRoutedReceivePublisher is BenchmarkRoutedReceive's child process: it does nothing unless
// PHXGO_ROUTED_CHILD=1.
func TestRoutedReceivePublisher(t *testing.T) {
	if os.Getenv("PHXGO_ROUTED_CHILD") != "1" {
		t.Skip("the child process of BenchmarkRoutedReceive")
	}
	n, _ := strconv.Atoi(os.Getenv("PHXGO_ROUTED_CHILD_N"))
	routed := os.Getenv("PHXGO_ROUTED_CHILD_MODE") == "routed"
	ps, _ := startNode(t, os.Getenv("PHXGO_ROUTED_CHILD_NAME"), redisadapter.Config{URL: os.Getenv("PHXGO_ROUTED_CHILD_URL"), NodeName: "others", RouteByTopic: routed}, pubsub.Config{})
	fmt.Print("ready\n")
	if _, err := os.Stdin.Read(make([]byte, 3)); err != nil { // the parent's go
		t.Fatal(err)
	}
	const conc = 64
	payload := make([]byte, payloadSize)
	rate := routedRate()
	topics := make(chan string, int(rate)/100)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for topic := range topics {
				if err := ps.Broadcast(ctx, topic, payload); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// routedRate broadcasts a second, fed every millisecond, so that both modes see the same traffic.
	rng := rand.New(rand.NewPCG(3, 7))
	tick := time.NewTicker(time.Millisecond)
	start := time.Now()
	for sent := 0; sent < n; {
		<-tick.C
		due := min(n, int(time.Since(start).Seconds()*rate))
		for ; sent < due; sent++ {
			topics <- scenarioTopic(rng.IntN(scenarioTopics))
		}
	}
	tick.Stop()
	close(topics)
	wg.Wait()
	if err := ps.Broadcast(ctx, "end", "end"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSubscribeContext measures SubscribeContext on topics whose bucket is new (a SUBSCRIBE round
// trip each): p50 and p99 per call, one call at a time and 16 at once.
func BenchmarkSubscribeContext(b *testing.B) {
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" {
		b.Skip("set PHXGO_REDIS_URL to run the routing benchmarks")
	}
	for _, conc := range []int{1, 16} {
		b.Run("conc="+strconv.Itoa(conc), func(b *testing.B) {
			ps, _ := startNode(b, uniqueName(b), redisadapter.Config{URL: url, NodeName: "n", RouteByTopic: true}, pubsub.Config{})
			sub := newSub(b, ps)
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range conc {
				wg.Go(func() {
					for i := g; i < b.N; i += conc {
						start := time.Now()
						if err := sub.SubscribeContext(ctx, "sc:"+strconv.Itoa(i)); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(start)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// TestRoutedChurnRedisCPU subscribes and unsubscribes 10,000 topics a second for churnFor, each topic
// held for 100 ms, on a node with the default linger, and reports Redis's CPU over the run (the
// routing issue's target: at most 10 % of a core). Run with PHXGO_BENCH=1 and PHXGO_REDIS_URL.
func TestRoutedChurnRedisCPU(t *testing.T) {
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" || os.Getenv("PHXGO_BENCH") != "1" {
		t.Skip("set PHXGO_BENCH=1 and PHXGO_REDIS_URL to measure subscription churn")
	}
	const rate, churnFor = 10_000, 10 * time.Second
	ps, a := startNode(t, uniqueName(t), redisadapter.Config{URL: url, NodeName: "n", RouteByTopic: true}, pubsub.Config{})
	admin := plainClient(t, url)
	sub := newSub(t, ps)
	rcpu0, cpu0, start := redisCPU(admin), cpuTime(), time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var held []string
	next := 0
	for time.Since(start) < churnFor {
		<-tick.C
		due := int(time.Since(start).Seconds() * rate)
		for ; next < due; next++ {
			topic := "churn:" + strconv.Itoa(next)
			if err := sub.Subscribe(topic); err != nil {
				t.Fatal(err)
			}
			held = append(held, topic)
			if len(held) > rate/10 { // each held 100 ms
				if err := sub.Unsubscribe(held[0]); err != nil {
					t.Fatal(err)
				}
				held = held[1:]
			}
		}
	}
	wall := time.Since(start)
	rcpu, cpu := redisCPU(admin)-rcpu0, cpuTime()-cpu0
	st := a.Stats()
	t.Logf("%d subscribe+unsubscribe in %v (%.0f/s): Redis CPU %.1f %% of a core, node CPU %.1f %%; %d SUBSCRIBE, %d UNSUBSCRIBE of buckets; routing now %+v",
		next, wall.Round(time.Millisecond), float64(next)/wall.Seconds(), 100*rcpu.Seconds()/wall.Seconds(), 100*cpu.Seconds()/wall.Seconds(),
		st.RouteSubscribes, st.RouteUnsubscribes, a.Routing())
}

// BenchmarkRedisShardedBroadcast: routed broadcasts on a lone redis-server (server=single, classic
// PUBLISH and SUBSCRIBE of the buckets' channels) against the 3-master cluster (server=cluster:
// SPUBLISH, SSUBSCRIBE per partition), in one run. conc goroutines of node a broadcast 100-byte
// payloads on 1,024 topics that node b holds; the clock stops when b has received all of them.
// redis-cpu-µs/msg is the CPU of every master (or the lone server) per message;
// busiest-master-cpu-µs/msg that of the master that worked most, and capacity-msg/s the rate at which
// it would use a whole core: the Redis-side capacity, the figure to compare between the servers when
// the nodes share the machine's cores with Redis (msg/s is then what the nodes sustain, not what Redis
// can absorb). The same environment as BenchmarkRedisClusterBroadcast (PHXGO_REDIS_CLUSTER,
// PHXGO_REDIS_CLUSTER_SINGLE).
func BenchmarkRedisShardedBroadcast(b *testing.B) {
	const topics = 1024
	for _, conc := range []int{256} {
		for _, server := range []string{"single", "cluster", "onemaster"} {
			b.Run("conc="+strconv.Itoa(conc)+"/server="+server, func(b *testing.B) {
				singleURL := clusterBenchSingle(b)
				name := uniqueName(b)
				var newClient func() redis.UniversalClient
				var masters []*redis.Client
				switch server {
				case "single":
					opt, err := redis.ParseURL(singleURL)
					if err != nil {
						b.Fatal(err)
					}
					newClient = func() redis.UniversalClient { return redis.NewClient(opt) }
					masters = []*redis.Client{plainClient(b, singleURL)}
				case "cluster", "onemaster":
					cluster := realCluster(b, false)
					newClient = func() redis.UniversalClient {
						return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.seeds, MaxRetries: -1})
					}
					for _, n := range cluster.nodes() {
						if n.master {
							masters = append(masters, cluster.server(n.addr))
						}
					}
				}
				var ca redis.UniversalClient
				node := func(n string) (*pubsub.PubSub, *redisadapter.Adapter) {
					c := newClient()
					b.Cleanup(func() { c.Close() })
					if ca == nil {
						ca = c
					}
					// PHXGO_SHARDED_PARTITIONS sets Config.Partitions (how many connections a node holds
					// on the cluster), to see what a master's fan-out to them costs.
					parts, _ := strconv.Atoi(os.Getenv("PHXGO_SHARDED_PARTITIONS"))
					return startNode(b, name, redisadapter.Config{Client: c, NodeName: n, RouteByTopic: true, Partitions: parts}, pubsub.Config{})
				}
				a, aa := node("a")
				nb, _ := node("b")
				sub := newSub(b, nb, pubsub.WithMailboxSize(1<<16))
				// server=onemaster: the topics are those whose channel lives on one master (room:0's),
				// which takes all the traffic: its CPU per message, measured where the nodes can drive it
				// as hard as the lone server, is a master's cost of a message at that load.
				onMaster := func(string) bool { return true }
				if server == "onemaster" {
					masterOf := func(topic string) string {
						m, err := ca.(*redis.ClusterClient).MasterForKey(ctx, aa.TopicChannel(topic))
						if err != nil {
							b.Fatal(err)
						}
						return m.Options().Addr
					}
					first := masterOf("room:0")
					masters = slices.DeleteFunc(masters, func(m *redis.Client) bool { return m.Options().Addr != first })
					if len(masters) != 1 {
						b.Fatalf("room:0's master %s is not one of the cluster's masters", first)
					}
					onMaster = func(topic string) bool { return masterOf(topic) == first }
				}
				names := make([]string, 0, topics)
				for i := 0; len(names) < topics; i++ {
					if topic := "room:" + strconv.Itoa(i); onMaster(topic) {
						names = append(names, topic)
						subscribeCtx(b, sub, topic)
					}
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
				var payload any = make([]byte, payloadSize)
				var next atomic.Uint64
				b.ReportAllocs()
				redis0, cpu0 := serversCPU(b, masters), cpuTime()
				each0, calls0 := mastersCPU(b, masters), publishCalls(b, masters)
				b.ResetTimer()
				broadcastConcurrently(b, conc, b.N, func() error {
					return a.Broadcast(ctx, names[next.Add(1)%topics], payload)
				})
				cnt.wait(b, func() string { return fmt.Sprintf("dropped %d", sub.Dropped()) })
				b.StopTimer()
				cpu, rcpu := cpuTime()-cpu0, serversCPU(b, masters)-redis0
				var busiest time.Duration // the CPU of the master that worked most
				for i, c := range mastersCPU(b, masters) {
					busiest = max(busiest, c-each0[i])
				}
				var calls, most int64 // (S)PUBLISH calls: of all masters, and of the one with the most
				for i, c := range publishCalls(b, masters) {
					calls += c - calls0[i]
					most = max(most, c-calls0[i])
				}
				perMsg := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b.N) }
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
				b.ReportMetric(perMsg(cpu), "cpu-µs/msg")
				b.ReportMetric(perMsg(rcpu), "redis-cpu-µs/msg")
				// Redis-side capacity: the rate at which the busiest master would use a whole core (a
				// master executes commands on one thread), at this traffic's mix. On a machine whose
				// cores the clients share with the masters, this is the cluster's figure that means
				// something; throughput (msg/s) is the clients'.
				b.ReportMetric(perMsg(busiest), "busiest-master-cpu-µs/msg")
				b.ReportMetric(1e6/perMsg(busiest), "capacity-msg/s")
				// The share of the messages that the busiest master published: with uniform traffic, how
				// the partitions' slots spread over the masters.
				b.ReportMetric(float64(most)/float64(max(calls, 1)), "busiest-share")
			})
		}
	}
}

// mastersCPU returns the user+sys CPU time of each of masters (INFO cpu), in order; it fails the
// benchmark if one cannot be read.
func mastersCPU(b *testing.B, masters []*redis.Client) []time.Duration {
	b.Helper()
	cpu := make([]time.Duration, len(masters))
	for i, m := range masters {
		if cpu[i] = redisCPU(m); cpu[i] == 0 {
			b.Fatalf("INFO cpu of %s: unreadable", m.Options().Addr)
		}
	}
	return cpu
}

// publishCalls returns how many PUBLISH and SPUBLISH commands each of masters has executed (INFO
// commandstats), in order.
func publishCalls(b *testing.B, masters []*redis.Client) []int64 {
	b.Helper()
	calls := make([]int64, len(masters))
	for i, m := range masters {
		info, err := m.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatalf("INFO commandstats of %s: %v", m.Options().Addr, err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			for _, cmd := range []string{"cmdstat_publish:calls=", "cmdstat_spublish:calls="} {
				if v, ok := strings.CutPrefix(line, cmd); ok {
					n, _ := strconv.ParseInt(v[:strings.IndexByte(v+",", ',')], 10, 64)
					calls[i] += n
				}
			}
		}
	}
	return calls
}

// TestRoutedRedisMemory reports what Redis spends per (node, bucket) subscription: used_memory before
// and after a node subscribes 20,000 buckets. Run with PHXGO_BENCH=1 and PHXGO_REDIS_URL.
func TestRoutedRedisMemory(t *testing.T) {
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" || os.Getenv("PHXGO_BENCH") != "1" {
		t.Skip("set PHXGO_BENCH=1 and PHXGO_REDIS_URL to measure Redis's memory per bucket subscription")
	}
	admin := plainClient(t, url)
	usedMemory := func() int64 {
		info, err := admin.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory in INFO memory")
		return 0
	}
	ps, a := startNode(t, uniqueName(t), redisadapter.Config{URL: url, NodeName: "n", RouteByTopic: true}, pubsub.Config{})
	before := usedMemory()
	sub := newSub(t, ps)
	for i := range 20_000 {
		if err := sub.Subscribe("mem:" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, time.Minute, "every bucket confirmed", func() bool { r := a.Routing(); return r.Pending == 0 && r.Effective == r.Held })
	after := usedMemory()
	buckets := a.Routing().Effective
	t.Logf("%d buckets subscribed: Redis used_memory +%d bytes, %.0f bytes per (node, bucket) subscription (channel names of %d bytes)",
		buckets, after-before, float64(after-before)/float64(buckets), len(a.TopicChannel("mem:0")))
}
