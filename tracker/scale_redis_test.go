package tracker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// The tracker at production scale over a real Redis. These build tens of thousands of presences, so they
// run with PHXGO_FULL=1 (CI sets it); each fails without a real Redis when PHXGO_REDIS_REQUIRED=1.

func requireFull(t *testing.T) {
	t.Helper()
	if os.Getenv("PHXGO_FULL") != "1" {
		t.Skip("set PHXGO_FULL=1 to run the production-scale tracker tests")
	}
}

// trackMany tracks n presences on tr in topic, keys prefix0..prefix(n-1), one owner per 1000, with a
// 2-key meta, and returns the owners.
func trackMany(t *testing.T, ps *pubsub.PubSub, tr *tracker.Tracker, topic, prefix string, n int) []*pubsub.Subscriber {
	t.Helper()
	var owners []*pubsub.Subscriber
	for i := range n {
		if i%1000 == 0 {
			owners = append(owners, newOwner(t, ps))
		}
		if _, err := tr.Track(owners[len(owners)-1], topic, fmt.Sprint(prefix, i), map[string]any{"status": "online", "device": "web"}); err != nil {
			t.Fatal(err)
		}
	}
	return owners
}

// One node tracks 50 000 presences on one shard (production timings); a second node starts and lists
// them all, with no client disconnected by Redis for its output buffer. Before chunked transfers, the
// full state (about 3 MB) was refused above MaxMessageSize and the new node listed none after 60 s.
func TestRealRedisNewNodeGets50kPresences(t *testing.T) {
	requireFull(t)
	url := realRedisURL(t)
	name := uniqueName(t)
	cfg := tracker.ProductionConfig("presence", nil)
	psA := realRedisNode(t, url, name, "a")
	a := newTracker(t, psA, cfg)
	const n = 50_000
	trackMany(t, psA, a, "room", "user:", n)
	time.Sleep(time.Second) // the eager deltas went out to nobody

	watch := watchOutputBuffers(t, url, "")
	psB := realRedisNode(t, url, name, "b")
	started := time.Now()
	b := newTracker(t, psB, cfg)
	deadline := started.Add(15 * time.Second)
	for len(b.List("room")) < n {
		if time.Now().After(deadline) {
			t.Fatalf("b lists %d of %d presences %v after it started (a: %+v; b: %+v)", len(b.List("room")), n, time.Since(started), a.Stats(), b.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(started)
	peak := watch.check()
	t.Logf("a new node lists 50 000 presences %v after it started; largest Redis output buffer %.1f MB (a: %+v; b: %+v)",
		took, float64(peak)/1e6, a.Stats(), b.Stats())
	if got := len(b.List("room")); got != n {
		t.Fatalf("b lists %d presences", got)
	}
}

// A Redis restart with 2 × 30 000 presences, during which each node ends 5 000 of its presences and
// tracks 5 000 new ones: within 3 heartbeats of Redis's return, both nodes list the same presences,
// exactly the ones alive, and Redis disconnects no client for its output buffer. Before chunked
// transfers, the catch-up needed a full transfer, which was refused: 30 s later the peer still listed
// every presence that left and none that joined.
func TestRealRedisRestartConvergesAt60k(t *testing.T) {
	requireFull(t)
	srv := startPrivateRedis(t)
	name := uniqueName(t)
	cfg := tracker.ProductionConfig("presence", nil)
	nodes := []string{"a", "b"}
	var pss []*pubsub.PubSub
	var trs []*tracker.Tracker
	var owners [][]*pubsub.Subscriber
	for _, node := range nodes {
		a, err := redisadapter.New(redisadapter.Config{URL: srv.URL(), NodeName: node, ProbeInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ps.Close() })
		pss = append(pss, ps)
		trs = append(trs, newTracker(t, ps, cfg))
	}
	const n = 30_000
	for i, node := range nodes {
		owners = append(owners, trackMany(t, pss[i], trs[i], "room", node+":", n))
	}
	want := func() []string {
		var all []string
		for i, node := range nodes {
			for k := range n + 5000 {
				if k >= 5000 { // the first five owners (5 000 presences) end during the outage
					all = append(all, fmt.Sprint(node, ":", k, "@", nodes[i]))
				}
			}
		}
		slices.Sort(all)
		return all
	}()
	listed := func(tr *tracker.Tracker) []string {
		var out []string
		for _, p := range tr.List("room") {
			out = append(out, p.Key+"@"+p.Replica)
		}
		slices.Sort(out)
		return out
	}
	waitFor := func(within time.Duration, what string, ok func() bool) time.Duration {
		start := time.Now()
		for !ok() {
			if time.Since(start) > within {
				t.Fatalf("%s: not after %v (a lists %d, b lists %d; a: %+v; b: %+v)", what, within,
					len(trs[0].List("room")), len(trs[1].List("room")), trs[0].Stats(), trs[1].Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor(20*time.Second, "both nodes list 60 000 presences", func() bool {
		return len(trs[0].List("room")) == 2*n && len(trs[1].List("room")) == 2*n
	})

	watch := watchOutputBuffers(t, srv.URL(), filepath.Join(srv.dir, "redis.log"))
	srv.stop()
	for i, node := range nodes {
		for _, o := range owners[i][:5] { // 5 000 presences end
			o.Close()
		}
		for k := n; k < n+5000; k++ { // 5 000 new ones
			if _, err := trs[i].Track(owners[i][len(owners[i])-1], "room", fmt.Sprint(node, ":", k), map[string]any{"status": "online", "device": "web"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(2 * time.Second) // Redis is down for 2 s (the scenario, not a wait for an outcome)
	srv.start()
	// The target is 3 heartbeats. Under the race detector, where everything (and each check here, which
	// sorts 2 × 60 000 keys) runs several times slower, the test asks for convergence only; .ci/run runs it
	// again without -race, where the 3 heartbeats are asserted.
	within, what := 3*cfg.BroadcastPeriod, "every node lists the same presences within 3 heartbeats of Redis's return"
	if tracker.RaceEnabled {
		within, what = 30*time.Second, "every node lists the same presences (race detector: the 3-heartbeat target is checked without it)"
	}
	took := waitFor(within, what, func() bool {
		return slices.Equal(listed(trs[0]), want) && slices.Equal(listed(trs[1]), want)
	})
	peak := watch.check()
	t.Logf("converged %v after Redis returned; largest Redis output buffer %.1f MB (a: %+v; b: %+v)", took, float64(peak)/1e6, trs[0].Stats(), trs[1].Stats())
}

// outputBuffers watches a Redis's pubsub clients while a test runs: the largest output buffer (omem) seen
// in CLIENT LIST, sampled every 20 ms, and, at the end, whether Redis disconnected any client for its
// output buffer (INFO stats client_output_buffer_limit_disconnections where the server has it, and the
// log line every version writes, for a private server).
type outputBuffers struct {
	t    *testing.T
	c    *redis.Client
	log  string // the private server's log file, or ""
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	peak int64
}

func watchOutputBuffers(t *testing.T, url, logFile string) *outputBuffers {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	w := &outputBuffers{t: t, c: redis.NewClient(opt), log: logFile, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			list, err := w.c.ClientList(context.Background()).Result()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(list, "\n") {
				for _, field := range strings.Fields(line) {
					if v, ok := strings.CutPrefix(field, "omem="); ok {
						if n, err := strconv.ParseInt(v, 10, 64); err == nil {
							w.mu.Lock()
							w.peak = max(w.peak, n)
							w.mu.Unlock()
						}
					}
				}
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *outputBuffers) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
		w.c.Close()
	}
}

// check stops watching, fails the test if Redis disconnected a client for its output buffer, and returns
// the largest output buffer seen.
func (w *outputBuffers) check() int64 {
	w.t.Helper()
	info, err := w.c.Info(context.Background(), "stats").Result()
	if err != nil {
		w.t.Fatal(err)
	}
	w.close()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "client_output_buffer_limit_disconnections:"); ok && v != "0" {
			w.t.Fatalf("Redis disconnected %s clients for their output buffers", v)
		}
	}
	if w.log != "" {
		b, err := os.ReadFile(w.log)
		if err != nil {
			w.t.Fatal(err)
		}
		if strings.Contains(string(b), "output buffer limits") {
			w.t.Fatalf("Redis closed a client for its output buffer:\n%s", b)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// One node holds 1 000 000 presences, 200 000 on each of its 5 shards (1 000 topics); a second node
// starts and lists them all, over a real redis-server with its default pubsub output-buffer limits
// (client-output-buffer-limit pubsub 32mb 8mb 60). Targets (issue 10): 2 s with TestConfig timings, 3 s
// with production timings (asserted with PHXGO_TRACKER_TARGETS=1; otherwise the figure is logged against
// the target, and the test asserts that every presence arrives within 120 s). It skips under the race
// detector (.ci/run runs it without). Redis disconnects no client for
// its output buffer.
func TestRealRedisNewNodeGets1MPresences(t *testing.T) {
	requireFull(t)
	for _, v := range []struct {
		name   string
		cfg    tracker.Config
		target time.Duration
	}{
		{"test", tracker.TestConfig("presence", nil), 2 * time.Second},
		{"production", tracker.ProductionConfig("presence", nil), 3 * time.Second},
	} {
		t.Run(v.name, func(t *testing.T) {
			if tracker.RaceEnabled {
				t.Skip("1 M presences take minutes under the race detector: .ci/run runs this test without it")
			}
			srv := startPrivateRedis(t)
			name := uniqueName(t)
			cfg := v.cfg
			cfg.PoolSize = 5
			node := func(n string) (*pubsub.PubSub, *redisadapter.Adapter) {
				ad, err := redisadapter.New(redisadapter.Config{URL: srv.URL(), NodeName: n})
				if err != nil {
					t.Fatal(err)
				}
				ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: ad})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ps.Close() })
				return ps, ad
			}
			psA, adA := node("a")
			a := newTracker(t, psA, cfg)
			const n, topics = 1_000_000, 1000
			var owner *pubsub.Subscriber
			meta := map[string]any{"status": "online", "device": "web"}
			for i := range n {
				if i%1000 == 0 {
					owner = newOwner(t, psA)
				}
				if _, err := a.Track(owner, fmt.Sprint("room:", i%topics), fmt.Sprint("user:", i), meta); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Second) // the eager deltas went out to nobody
			watch := watchOutputBuffers(t, srv.URL(), filepath.Join(srv.dir, "redis.log"))

			psB, adB := node("b")
			started := time.Now()
			b := newTracker(t, psB, cfg)
			listed := func() int {
				total := 0
				for i := range topics {
					total += len(b.List(fmt.Sprint("room:", i)))
				}
				return total
			}
			samples := lastTopicOfEachShard(topics, cfg.PoolSize)
			sample := func() bool { // the topic that fills last on each shard, cheap to list while the rest fills
				for _, topic := range samples {
					if len(b.List(topic)) < n/topics {
						return false
					}
				}
				return true
			}
			deadline := started.Add(120 * time.Second)
			for !sample() || listed() < n {
				if time.Now().After(deadline) {
					t.Fatalf("b lists %d of %d presences 120 s after it started (a: %+v; b: %+v)", listed(), n, a.Stats(), b.Stats())
				}
				time.Sleep(5 * time.Millisecond)
			}
			took := time.Since(started)
			peak := watch.check()
			t.Logf("a new node lists 1 000 000 presences %v after it started (target %v); largest Redis output buffer %.1f MB (a: %+v; b: %+v)",
				took, v.target, float64(peak)/1e6, a.Stats(), b.Stats())
			// Reconnects are logged, not asserted: under load a liveness probe can time out and reconnect
			// (watch.check asserts what matters here, that Redis closed no client for its output buffer).
			t.Logf("reconnects: a %d, b %d", adA.Stats().Reconnects, adB.Stats().Reconnects)
			// The targets are asserted with PHXGO_TRACKER_TARGETS=1 only: on a shared 2-core machine they are
			// missed (docs/benchmarks.md, "Tracker transfers"); by default the test asserts that the transfer
			// completes, and logs the figure against the target.
			if os.Getenv("PHXGO_TRACKER_TARGETS") == "1" && took > v.target {
				t.Fatalf("b listed 1 000 000 presences %v after it started, target %v", took, v.target)
			}
		})
	}
}

// lastTopicOfEachShard returns, of topics room:0 … room:<topics-1>, the last one on each of poolSize
// shards: values come in parts by clock, and Track went round the topics in order, so these fill last
// on their shard. A 1 M join polls them (a few thousand presences) before it lists every topic (a
// million: listing all of them at each poll would render each again as it fills, and compete for the
// CPU with the merge it measures).
func lastTopicOfEachShard(topics, poolSize int) []string {
	last := make([]string, poolSize)
	found := 0
	for i := topics - 1; i >= 0 && found < poolSize; i-- {
		topic := fmt.Sprint("room:", i)
		if s := tracker.ShardOf(topic, poolSize); last[s] == "" {
			last[s] = topic
			found++
		}
	}
	return slices.DeleteFunc(last, func(t string) bool { return t == "" })
}
