package redisadapter_test

// BenchmarkRedisClusterBroadcast: the adapter on a 3-master Redis Cluster against a lone redis-server
// with the same settings, in one run (docs/benchmarks.md, "Redis Cluster against a single server").
//
//	PHXGO_REDIS_CLUSTER=127.0.0.1:7921,127.0.0.1:7922,127.0.0.1:7923   seeds (redis-cluster.sh start 3 0)
//	PHXGO_REDIS_CLUSTER_SINGLE=redis://127.0.0.1:7930/0                the lone server (redis-cluster.sh single)
//
// Skipped unless both are set (PHXGO_REDIS_CLUSTER_REQUIRED does not make it fail: it is a benchmark).

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// clusterBenchSingle returns the URL of the lone server to compare the cluster with, or skips.
func clusterBenchSingle(b *testing.B) string {
	b.Helper()
	single := os.Getenv("PHXGO_REDIS_CLUSTER_SINGLE")
	if os.Getenv("PHXGO_REDIS_CLUSTER") == "" || single == "" {
		b.Skip("set PHXGO_REDIS_CLUSTER (cluster seeds) and PHXGO_REDIS_CLUSTER_SINGLE (URL of a lone redis-server " +
			"with the same settings, redis-cluster.sh single) to compare the cluster with a single server")
	}
	return single
}

// serversCPU returns the summed user+sys CPU time of servers (INFO cpu); it fails the benchmark if one
// of them cannot be read, as a sum missing a server would be wrong, not merely absent.
func serversCPU(b *testing.B, servers []*redis.Client) time.Duration {
	b.Helper()
	var total time.Duration
	for _, s := range servers {
		cpu := redisCPU(s)
		if cpu == 0 {
			b.Fatalf("INFO cpu of %s: unreadable", s.Options().Addr)
		}
		total += cpu
	}
	return total
}

// BenchmarkRedisClusterBroadcast is BenchmarkRedisBroadcast (conc goroutines on node A broadcast
// 100-byte payloads, a subscriber on node B counts them, the clock stops when all arrived) on two
// servers in the same run: server=single, a lone redis-server, and server=cluster, a 3-master Redis
// Cluster reached through *redis.ClusterClient. Every channel of one PubSub shares a hash tag, so on
// the cluster every PUBLISH (slot routing) and the nodes' SUBSCRIBE connections go to the master that
// owns that slot; Redis then forwards each classic PUBLISH over the cluster bus to the other masters.
//
// redis-cpu-µs/msg is the CPU of every master (the cluster's three, summed, or the lone server) per
// message; owner-redis-cpu-µs/msg is the slot owner's alone (for single, the same server). The
// benchmark fails if a master other than the owner ran any PUBLISH: the routing would be broken.
//
// Sub-benchmarks are ordered conc/server so that single and cluster of one concurrency run one after the
// other; run it as 5 invocations of -count 1 to interleave the runs (docs/benchmarks.md).
func BenchmarkRedisClusterBroadcast(b *testing.B) {
	for _, conc := range []int{64, 1024} {
		for _, server := range []string{"single", "cluster"} {
			b.Run("conc="+strconv.Itoa(conc)+"/server="+server, func(b *testing.B) {
				singleURL := clusterBenchSingle(b)
				name := uniqueName(b)
				var newClient func() redis.UniversalClient
				var masters []*redis.Client // INFO cpu of each
				var owner *redis.Client
				var cluster *liveCluster
				var ownerAddr string
				switch server {
				case "single":
					opt, err := redis.ParseURL(singleURL)
					if err != nil {
						b.Fatal(err)
					}
					newClient = func() redis.UniversalClient { return redis.NewClient(opt) }
					owner = plainClient(b, singleURL)
					masters = []*redis.Client{owner}
				case "cluster":
					cluster = realCluster(b, false)
					// Default options, as benchNode's redis.NewClient for the lone server.
					newClient = func() redis.UniversalClient {
						return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.seeds})
					}
					for _, n := range cluster.nodes() {
						if n.master {
							masters = append(masters, cluster.server(n.addr))
						}
					}
					if len(masters) < 2 {
						b.Fatalf("the cluster has %d master(s)", len(masters))
					}
					ownerAddr = cluster.owner(cluster.pubsubSlot(name)).addr
					owner = cluster.server(ownerAddr)
				}

				node := func(n string) (*pubsub.PubSub, *pipeCounter) {
					c := newClient()
					pc := &pipeCounter{}
					c.AddHook(pc)
					b.Cleanup(func() { c.Close() }) // after the PubSub's Close, registered by startNode
					ps, _ := startNode(b, name, redisadapter.Config{Client: c, NodeName: n}, pubsub.Config{})
					return ps, pc
				}
				a, pc := node("a")
				nb, _ := node("b")
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
				var payload any = make([]byte, payloadSize) // boxed once, as in BenchmarkRedisBroadcast

				var publishBefore map[string]int64
				if cluster != nil {
					publishBefore = cluster.publishCalls()
				}
				b.ReportAllocs()
				pc.reset()
				redis0, owner0 := serversCPU(b, masters), serversCPU(b, []*redis.Client{owner})
				cpu0 := cpuTime()
				b.ResetTimer()
				broadcastConcurrently(b, conc, b.N, func() error { return a.Broadcast(ctx, "t", payload) })
				cnt.wait(b, func() string { return fmt.Sprintf("dropped %d", sub.Dropped()) })
				b.StopTimer()
				cpu := cpuTime() - cpu0
				rcpu := serversCPU(b, masters) - redis0
				ocpu := serversCPU(b, []*redis.Client{owner}) - owner0
				perMsg := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b.N) }
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
				b.ReportMetric(perMsg(cpu), "cpu-µs/msg")
				b.ReportMetric(perMsg(rcpu), "redis-cpu-µs/msg")
				b.ReportMetric(perMsg(ocpu), "owner-redis-cpu-µs/msg")
				pc.report(b)

				if cluster != nil {
					for addr, calls := range cluster.publishCalls() {
						if d := calls - publishBefore[addr]; addr != ownerAddr && d != 0 {
							b.Fatalf("%s, which does not own the PubSub's slot (%s does), ran %d PUBLISH", addr, ownerAddr, d)
						}
					}
				}
			})
		}
	}
}
