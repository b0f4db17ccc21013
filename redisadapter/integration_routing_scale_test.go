package redisadapter_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// The routing issue's scenario as a test, at full size: 8 routed nodes on a real redis-server, 100,000
// topics, each node subscribed to a random eighth of them, every node broadcasting on random topics of
// all 100,000. Run with PHXGO_FULL=1 (CI sets it) and PHXGO_REDIS_URL.
//
// It checks what a user of routing relies on:
//   - each node's subscriber gets exactly the broadcasts on the topics it holds, from every node (its own
//     included), each once, and nothing on any other topic (no misrouted delivery);
//   - one node's broadcasts on one topic arrive in the order they were made;
//   - each node subscribes exactly the buckets of its topics, BucketTopics counts their topics, and
//     the number of buckets is what the model says (B·(1 − (1 − 1/B)^k) for k topics in B buckets);
//   - each node reads exactly the frames of its buckets from the other nodes (Stats.Received), and
//     drops none as misrouted, duplicate or lost;
//   - all of it within scaleDeadline.
func TestRoutedEightNodesHundredThousandTopics(t *testing.T) {
	if os.Getenv("PHXGO_FULL") != "1" {
		t.Skip("set PHXGO_FULL=1 (and PHXGO_REDIS_URL) to run the 8-node, 100,000-topic routing test")
	}
	url := realRedisURL(t)
	const (
		nodes   = scenarioNodes
		topics  = scenarioTopics
		perNode = 6_000 // broadcasts each node makes: 48,000 in all
		senders = 8     // goroutines broadcasting per node; a topic belongs to one of them
		// scaleDeadline bounds the whole test, set-up included (≈ 10 s under -race on 2 shared cores).
		scaleDeadline = 50 * time.Second
	)
	start := time.Now()
	name := uniqueName(t)
	rng := rand.New(rand.NewPCG(9, 11))

	type node struct {
		name    string
		ps      *pubsub.PubSub
		a       *redisadapter.Adapter
		sub     *pubsub.Subscriber
		held    map[string]bool
		buckets map[int]int // bucket → topics held in it
	}
	ns := make([]*node, nodes)
	for i := range ns {
		n := &node{name: "n" + strconv.Itoa(i), held: make(map[string]bool), buckets: make(map[int]int)}
		n.ps, n.a = startNode(t, name, redisadapter.Config{URL: url, NodeName: n.name, RouteByTopic: true}, pubsub.Config{})
		n.sub = newSub(t, n.ps, pubsub.WithMailboxSize(1<<16))
		ns[i] = n
	}
	for i := range topics {
		topic := scenarioTopic(i)
		for _, n := range ns {
			if rng.IntN(nodes) != 0 {
				continue
			}
			if err := n.sub.Subscribe(topic); err != nil {
				t.Fatal(err)
			}
			n.held[topic] = true
			n.buckets[n.a.Route(topic)]++
		}
	}
	c, cancel := context.WithDeadline(ctx, start.Add(scaleDeadline))
	defer cancel()
	for _, n := range ns {
		for {
			r := n.a.Routing()
			if r.Pending == 0 && r.Effective == r.Held && r.Held == len(n.buckets) {
				break
			}
			if c.Err() != nil {
				t.Fatalf("%s: buckets %+v, want %d held and effective", n.name, r, len(n.buckets))
			}
			time.Sleep(10 * time.Millisecond)
		}
		for b, k := range n.buckets {
			if got := n.a.BucketTopics(b); got != k {
				t.Fatalf("%s: BucketTopics(%d) = %d, want %d", n.name, b, got, k)
			}
		}
		// The model: k topics hashed into B buckets fill B·(1 − (1 − 1/B)^k) of them on average, with a
		// standard deviation under √(k²/2B) (the collisions); 6 of them is far beyond chance.
		k, buckets := float64(len(n.held)), float64(n.a.Routing().Buckets)
		model := buckets * (1 - math.Pow(1-1/buckets, k))
		if d := math.Abs(float64(len(n.buckets)) - model); d > 6*math.Sqrt(k*k/(2*buckets)) {
			t.Fatalf("%s: %d buckets for %d topics, the model says %.0f", n.name, len(n.buckets), len(n.held), model)
		}
		// Another subscriber's SubscribeContext on a held topic returns: its bucket is confirmed. (The
		// same subscriber would hold the topic twice, and get its broadcasts twice, as in Phoenix.)
		other := newSub(t, n.ps)
		for topic := range n.held {
			if err := other.SubscribeContext(c, topic); err != nil {
				t.Fatalf("%s: SubscribeContext(%q): %v", n.name, topic, err)
			}
			break
		}
		other.Close()
	}
	setUp := time.Since(start)

	// Every node broadcasts perNode payloads "origin seq" on random topics, from senders goroutines; a
	// topic is always broadcast by the same goroutine, so one node's broadcasts on one topic have an
	// order, seq's.
	type sent struct {
		topic string
		seq   int
	}
	plans := make([][]sent, nodes) // what each node broadcasts
	want := make([]int, nodes)     // what each node's subscriber must receive
	frames := make([]int, nodes)   // the frames each node must read: the others' broadcasts on its buckets
	for o := range plans {
		for seq := range perNode {
			topic := scenarioTopic(rng.IntN(topics))
			plans[o] = append(plans[o], sent{topic, seq})
			for r, n := range ns {
				if n.held[topic] {
					want[r]++
				}
				if r != o && n.buckets[n.a.Route(topic)] > 0 {
					frames[r]++
				}
			}
		}
	}
	received0 := make([]uint64, nodes)
	for i, n := range ns {
		received0[i] = n.a.Stats().Received
	}

	// Each node's reader checks every message as it comes.
	// The first failure ends the run (c's cancel), so that readers and senders stop at once.
	errs := make(chan error, 1)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		cancel()
	}
	var readers sync.WaitGroup
	for r, n := range ns {
		readers.Go(func() {
			last := make(map[string]int) // "origin topic" → last seq
			for got := 0; got < want[r]; got++ {
				msg, err := n.sub.Receive(c)
				if err != nil {
					fail(fmt.Errorf("%s: received %d of %d: %w", n.name, got, want[r], err))
					return
				}
				if !n.held[msg.Topic] {
					fail(fmt.Errorf("%s: a broadcast on %q, a topic it does not hold", n.name, msg.Topic))
					return
				}
				p, _ := msg.Payload.(string)
				origin, seqText, ok := strings.Cut(p, " ")
				seq, err := strconv.Atoi(seqText)
				if !ok || err != nil {
					fail(fmt.Errorf("%s: payload %#v on %q", n.name, msg.Payload, msg.Topic))
					return
				}
				key := origin + " " + msg.Topic
				if prev, seen := last[key]; seen && seq <= prev {
					fail(fmt.Errorf("%s: from %s on %q: %d after %d", n.name, origin, msg.Topic, seq, prev))
					return
				}
				last[key] = seq
			}
		})
	}
	var senders0 sync.WaitGroup
	for o, n := range ns {
		for g := range senders {
			senders0.Go(func() {
				for _, s := range plans[o] {
					if n.a.Route(s.topic)%senders != g {
						continue
					}
					if err := n.ps.Broadcast(c, s.topic, n.name+" "+strconv.Itoa(s.seq)); err != nil {
						fail(fmt.Errorf("%s: Broadcast: %w", n.name, err))
						return
					}
				}
			})
		}
	}
	senders0.Wait()
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for r, n := range ns {
		eventually(t, time.Until(start.Add(scaleDeadline)), n.name+"'s frames", func() bool {
			return n.a.Stats().Received-received0[r] >= uint64(frames[r])
		})
	}
	time.Sleep(100 * time.Millisecond) // anything more (a duplicate, a misrouted frame) would have come by now
	for r, n := range ns {
		if got := n.a.Stats().Received - received0[r]; got != uint64(frames[r]) {
			t.Errorf("%s read %d frames, want %d", n.name, got, frames[r])
		}
		if extra, ok := n.sub.TryReceive(); ok {
			t.Errorf("%s: an extra message %+v", n.name, extra)
		}
		st := n.ps.Stats()
		if st.DroppedMisrouted != 0 || st.DroppedDuplicate != 0 || st.Gaps != 0 || st.GapsReported != 0 {
			t.Errorf("%s: %d misrouted, %d duplicate, %d gaps, %d reported", n.name, st.DroppedMisrouted, st.DroppedDuplicate, st.Gaps, st.GapsReported)
		}
	}
	fewest, most, read := len(ns[0].buckets), len(ns[0].buckets), 0
	for r, n := range ns {
		fewest, most, read = min(fewest, len(n.buckets)), max(most, len(n.buckets)), read+frames[r]
	}
	t.Logf("%d nodes × %d topics: set-up %v (%d–%d buckets a node), %d broadcasts delivered in %v; a node read %.1f %% of the others' broadcasts",
		nodes, topics, setUp.Round(time.Millisecond), fewest, most, nodes*perNode, (time.Since(start) - setUp).Round(time.Millisecond),
		100*float64(read)/float64((nodes-1)*nodes*perNode))
}
