package tracker_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// The 1 M join of TestRealRedisNewNodeGets1MPresences with node a in a process of its own, as in a
// deployment: each node's heap (and GC) holds its own million presences, not both. Measured with
// PHXGO_TRACKER_PROCESS=1 (and PHXGO_FULL=1); the child is this test binary running
// TestChildNodeTracks1M.
func TestRealRedisNewNodeGets1MPresencesFromAnotherProcess(t *testing.T) {
	requireFull(t)
	if os.Getenv("PHXGO_TRACKER_PROCESS") != "1" {
		t.Skip("set PHXGO_TRACKER_PROCESS=1 to measure the 1 M join with node a in another process")
	}
	if tracker.RaceEnabled {
		t.Skip("1 M presences take minutes under the race detector")
	}
	for _, timings := range []string{"test", "production"} {
		t.Run(timings, func(t *testing.T) {
			srv := startPrivateRedis(t)
			name := uniqueName(t)
			child := exec.Command(os.Args[0], "-test.run", "^TestChildNodeTracks1M$")
			child.Env = append(os.Environ(), "PHXGO_TRACKER_CHILD="+srv.URL()+" "+name+" "+timings)
			child.Stderr = os.Stderr
			stdin, err := child.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stdin.Close(); child.Wait() })
			lines := bufio.NewScanner(stdout)
			ready := false
			for !ready && lines.Scan() {
				ready = lines.Text() == "ready"
			}
			if !ready {
				t.Fatalf("node a's process ended before it had tracked its presences (%v)", lines.Err())
			}
			go func() {
				for lines.Scan() {
				}
			}()

			ad, err := redisadapter.New(redisadapter.Config{URL: srv.URL(), NodeName: "b"})
			if err != nil {
				t.Fatal(err)
			}
			ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: ad})
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			started := time.Now()
			b := newTracker(t, ps, joinConfig(timings))
			const n, topics = 1_000_000, 1000
			listed := func() int {
				total := 0
				for i := range topics {
					total += len(b.List(fmt.Sprint("room:", i)))
				}
				return total
			}
			// As in TestRealRedisNewNodeGets1MPresences: the topic that fills last on each shard, then all.
			samples := lastTopicOfEachShard(topics, joinConfig(timings).PoolSize)
			sample := func() bool {
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
					t.Fatalf("b lists %d of %d presences 120 s after it started (b: %+v)", listed(), n, b.Stats())
				}
				time.Sleep(5 * time.Millisecond)
			}
			took, target := time.Since(started), 3*time.Second
			if timings == "test" {
				target = 2 * time.Second
			}
			t.Logf("%s timings: a new node lists 1 000 000 presences of another process %v after it started (target %v; b: %+v)", timings, took, target, b.Stats())
			if os.Getenv("PHXGO_TRACKER_TARGETS") == "1" && took > target { // as in TestRealRedisNewNodeGets1MPresences
				t.Fatalf("b listed 1 000 000 presences %v after it started, target %v", took, target)
			}
		})
	}
}

// TestChildNodeTracks1M is node a of TestRealRedisNewNodeGets1MPresencesFromAnotherProcess: it tracks
// 1 M presences, prints "ready", and keeps them until its stdin closes. With
// PHXGO_TRACKER_CHILD_CPUPROFILE=file it writes its CPU profile from "ready" on (the transfer) there.
func TestChildNodeTracks1M(t *testing.T) {
	var url, name, timings string
	if _, err := fmt.Sscan(os.Getenv("PHXGO_TRACKER_CHILD"), &url, &name, &timings); err != nil {
		t.Skip("the child process of TestRealRedisNewNodeGets1MPresencesFromAnotherProcess")
	}
	ad, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: ad})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	a := newTracker(t, ps, joinConfig(timings))
	meta := map[string]any{"status": "online", "device": "web"}
	var owner *pubsub.Subscriber
	for i := range 1_000_000 {
		if i%1000 == 0 {
			owner = newOwner(t, ps)
		}
		if _, err := a.Track(owner, fmt.Sprint("room:", i%1000), fmt.Sprint("user:", i), meta); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)                                              // the eager deltas went out to nobody
	if file := os.Getenv("PHXGO_TRACKER_CHILD_CPUPROFILE"); file != "" { // node a's CPU from here on
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadByte() // until the parent closes stdin
	fmt.Fprintf(os.Stderr, "node a (%s timings): %+v\n", timings, a.Stats())
}

// joinConfig is the tracker configuration of the 1 M join: TestConfig or ProductionConfig timings,
// 5 shards (200 000 presences on each).
func joinConfig(timings string) tracker.Config {
	cfg := tracker.ProductionConfig("presence", nil)
	if timings == "test" {
		cfg = tracker.TestConfig("presence", nil)
	}
	cfg.PoolSize = 5
	return cfg
}
