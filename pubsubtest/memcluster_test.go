package pubsubtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// TestCluster runs the whole suite, cross-node checks included, on PubSubs on a Cluster.
func TestCluster(t *testing.T) {
	pubsubtest.Run(t, func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		c := pubsubtest.NewCluster()
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			cfg.Adapter = c.Adapter(fmt.Sprintf("node%d", i))
			ps, err := pubsub.New(context.Background(), cfg)
			if err != nil {
				closeAll(nodes[:i])
				t.Fatalf("New: %v", err)
			}
			nodes[i] = ps
		}
		return nodes
	}, pubsubtest.Features{Nodes: 3})
}

// TestClusterAdapter checks a Cluster's adapters against the Adapter contract.
func TestClusterAdapter(t *testing.T) {
	var clusters sync.Map // pubsub.Adapter → *pubsubtest.Cluster, for Disrupt
	pubsubtest.RunAdapter(t, func(t testing.TB, n int, _ string) []pubsub.Adapter {
		c := pubsubtest.NewCluster()
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			adapters[i] = c.Adapter(fmt.Sprintf("node%d", i))
			clusters.Store(adapters[i], c)
			t.Cleanup(func() { clusters.Delete(adapters[i]) })
		}
		return adapters
	}, pubsubtest.AdapterFeatures{Nodes: 3, Disrupt: func(t testing.TB, a pubsub.Adapter) {
		c, _ := clusters.Load(a)
		if err := c.(*pubsubtest.Cluster).Disrupt(a.NodeName()); err != nil {
			t.Fatal(err)
		}
	}})
}

// bubble runs f in a synctest bubble on a new Cluster with nodes named names, each with a subscriber of
// topic "t".
func bubble(t *testing.T, f func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber), names ...string) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		nodes, subs := map[string]*pubsub.PubSub{}, map[string]*pubsub.Subscriber{}
		for _, name := range names {
			nodes[name] = c.Node(t, name, pubsub.Config{Name: "cluster-test"})
			subs[name] = newSub(t, nodes[name])
			if err := subs[name].Subscribe("t"); err != nil {
				t.Fatal(err)
			}
		}
		f(t, c, nodes, subs)
	})
}

// queued returns the payloads queued for s, without waiting.
func queuedPayloads(s *pubsub.Subscriber) []any {
	var out []any
	for m, ok := s.TryReceive(); ok; m, ok = s.TryReceive() { // not select with default on C: see TryReceive
		out = append(out, m.Payload)
	}
	return out
}

func expectQueued(t *testing.T, what string, s *pubsub.Subscriber, want ...any) {
	t.Helper()
	if got := queuedPayloads(s); !slices.Equal(got, want) {
		t.Errorf("%s received %v, want %v", what, got, want)
	}
}

func broadcast(t *testing.T, ps *pubsub.PubSub, payload string) {
	t.Helper()
	if err := ps.Broadcast(context.Background(), "t", payload); err != nil {
		t.Fatal(err)
	}
}

// Delivery is asynchronous, and done once synctest.Wait returns; the sender's own subscriber has its
// messages when Broadcast returns.
func TestClusterDeliversBySynctestWait(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { broadcast(t, nodes["a"], fmt.Sprint("x", i)) })
		}
		wg.Wait()
		if got := len(queuedPayloads(subs["a"])); got != 3 {
			t.Fatalf("the sender's subscriber has %d messages, want 3", got)
		}
		synctest.Wait()
		for _, name := range []string{"b", "c"} {
			if got := len(queuedPayloads(subs[name])); got != 3 {
				t.Errorf("%s received %d messages, want 3", name, got)
			}
		}
		if st := c.Stats(); st.Sent != 6 || st.Delivered != 6 || st.Dropped != 0 || st.Lost != 0 || st.Rejected != 0 {
			t.Errorf("stats %+v, want 6 sent and delivered", st)
		}
	}, "a", "b", "c")
}

// Frames of one sender arrive in order at every receiver.
func TestClusterKeepsOrder(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		var want []any
		for i := range 200 { // within the subscriber's mailbox
			want = append(want, fmt.Sprint(i))
			broadcast(t, nodes["a"], fmt.Sprint(i))
			if i%7 == 0 {
				synctest.Wait()
			}
		}
		synctest.Wait()
		expectQueued(t, "b", subs["b"], want...)
	}, "a", "b")
}

func TestClusterPartitionAndHeal(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		gaps := newSub(t, nodes["c"])
		if err := gaps.Subscribe(pubsub.GapTopic); err != nil {
			t.Fatal(err)
		}
		broadcast(t, nodes["a"], "before")
		synctest.Wait()
		c.Partition([]string{"a", "b"}, []string{"c"})
		broadcast(t, nodes["a"], "during")
		broadcast(t, nodes["c"], "from c")
		synctest.Wait()
		expectQueued(t, "b", subs["b"], "before", "during")
		expectQueued(t, "c", subs["c"], "before", "from c")
		expectQueued(t, "a", subs["a"], "before", "during")
		c.Heal()
		broadcast(t, nodes["a"], "after")
		synctest.Wait()
		expectQueued(t, "b", subs["b"], "after")
		expectQueued(t, "c", subs["c"], "after")
		time.Sleep(time.Second) // a hole is reported lost after the PubSub's reorder grace (500 ms)
		synctest.Wait()
		select {
		case m := <-gaps.C():
			if g, ok := m.Payload.(pubsub.Gap); !ok || g.Node != "c" {
				t.Errorf("c reported %+v for the frame the partition dropped, want a Gap", m.Payload)
			}
		default:
			t.Error("c reported no Gap for the frame the partition dropped")
		}
		if st := c.Stats(); st.Dropped != 3 { // a→c, c→a, c→b
			t.Errorf("stats %+v, want 3 dropped", st)
		}
	}, "a", "b", "c")
}

// Nodes a partition does not name are together, in a group of their own.
func TestClusterPartitionUnnamed(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		c.Partition([]string{"a"})
		broadcast(t, nodes["b"], "x")
		synctest.Wait()
		expectQueued(t, "a", subs["a"])
		expectQueued(t, "c", subs["c"], "x")
	}, "a", "b", "c")
}

func TestClusterBlock(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		c.Block("a", "b")
		broadcast(t, nodes["a"], "a1")
		broadcast(t, nodes["b"], "b1")
		synctest.Wait()
		expectQueued(t, "b", subs["b"], "b1")
		expectQueued(t, "a", subs["a"], "a1", "b1")
		c.Unblock("a", "b")
		broadcast(t, nodes["a"], "a2")
		synctest.Wait()
		c.Block("b", "a")
		c.Heal()
		broadcast(t, nodes["b"], "b2")
		synctest.Wait()
		expectQueued(t, "b", subs["b"], "a2", "b2")
		expectQueued(t, "a", subs["a"], "a2", "b2")
	}, "a", "b")
}

// The Drop filter sees each receiver's frame; Tap sees every frame, dropped or not.
func TestClusterDropAndTap(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		var seen []string
		c.Tap(func(f pubsubtest.Frame) {
			if len(f.Bytes) == 0 || f.Topic != "t" {
				t.Errorf("tapped %+v", f)
			}
			seen = append(seen, fmt.Sprintf("%s>%s direct=%v dropped=%v", f.From, f.To, f.Direct, f.Dropped))
		})
		c.Drop(func(f pubsubtest.Frame) bool { return f.To == "c" })
		broadcast(t, nodes["a"], "x")
		if err := nodes["a"].DirectBroadcast(context.Background(), "c", "t", "d"); err != nil {
			t.Fatal(err)
		}
		if err := nodes["a"].DirectBroadcast(context.Background(), "nobody", "t", "d"); err != nil {
			t.Fatal(err)
		}
		c.Drop(nil)
		c.Tap(nil)
		broadcast(t, nodes["a"], "y")
		synctest.Wait()
		want := []string{"a>b direct=false dropped=false", "a>c direct=false dropped=true", "a>c direct=true dropped=true"}
		if !slices.Equal(seen, want) {
			t.Errorf("tapped %q, want %q", seen, want)
		}
		expectQueued(t, "b", subs["b"], "x", "y")
		expectQueued(t, "c", subs["c"], "y")
		if st := c.Stats(); st.Sent != 5 || st.Dropped != 2 || st.Delivered != 3 {
			t.Errorf("stats %+v, want 5 sent, 2 dropped, 3 delivered", st)
		}
	}, "a", "b", "c")
}

// Inject hands hostile bytes to a node and returns what its Host said; a replayed frame is a duplicate.
func TestClusterInject(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		var captured []byte
		c.Tap(func(f pubsubtest.Frame) { captured = slices.Clone(f.Bytes) })
		broadcast(t, nodes["a"], "x")
		synctest.Wait()
		expectQueued(t, "b", subs["b"], "x")
		if err := c.Inject("b", []byte("garbage")); !errors.Is(err, pubsub.ErrBadFrame) {
			t.Errorf("Inject(garbage) = %v, want ErrBadFrame", err)
		}
		if err := c.Inject("b", captured); !errors.Is(err, pubsub.ErrBadFrame) {
			t.Errorf("Inject(a replay) = %v, want ErrBadFrame (a duplicate)", err)
		}
		expectQueued(t, "b", subs["b"])
		if st := nodes["b"].Stats(); st.DroppedMalformed != 1 || st.DroppedDuplicate != 1 {
			t.Errorf("b's stats %+v, want one malformed frame and one duplicate", st)
		}
		if err := c.Inject("nobody", captured); !errors.Is(err, pubsubtest.ErrNoNode) {
			t.Errorf("Inject to nobody = %v, want ErrNoNode", err)
		}
		if st, errs := c.Stats(), c.Errors(); st.Rejected != 0 || len(errs) != 0 {
			t.Errorf("injected frames counted: %+v %v", st, errs)
		}
	}, "a", "b")
}

// Disrupt loses what is queued for a node and reports a Gap there.
func TestClusterDisrupt(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		gaps := newSub(t, nodes["b"])
		if err := gaps.Subscribe(pubsub.GapTopic); err != nil {
			t.Fatal(err)
		}
		if err := c.Disrupt("b"); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-gaps.C():
			if g, ok := m.Payload.(pubsub.Gap); !ok || g.Node != "b" || !errors.Is(g.Reason, pubsubtest.ErrDisrupted) {
				t.Errorf("gap %+v, want one of node b for ErrDisrupted", m.Payload)
			}
		default:
			t.Fatal("no Gap when Disrupt returned")
		}
		broadcast(t, nodes["a"], "after")
		synctest.Wait()
		expectQueued(t, "b", subs["b"], "after")
		if err := c.Disrupt("nobody"); !errors.Is(err, pubsubtest.ErrNoNode) {
			t.Errorf("Disrupt(nobody) = %v, want ErrNoNode", err)
		}
	}, "a", "b")
}

// FailSends makes sends fail before the frame leaves: nothing is delivered, locally either.
func TestClusterFailSends(t *testing.T) {
	bubble(t, func(t *testing.T, c *pubsubtest.Cluster, nodes map[string]*pubsub.PubSub, subs map[string]*pubsub.Subscriber) {
		down := errors.New("down")
		c.FailSends(down)
		if err := nodes["a"].Broadcast(context.Background(), "t", "x"); !errors.Is(err, down) {
			t.Errorf("Broadcast = %v, want the transport's error", err)
		}
		c.FailSends(nil)
		c.SetMaxFrame(100)
		if err := nodes["a"].Broadcast(context.Background(), "t", strings.Repeat("y", 200)); !errors.Is(err, pubsubtest.ErrFrameTooLarge) {
			t.Errorf("Broadcast of a large frame = %v, want ErrFrameTooLarge", err)
		}
		broadcast(t, nodes["a"], "z")
		synctest.Wait()
		expectQueued(t, "a", subs["a"], "z")
		expectQueued(t, "b", subs["b"], "z")
		if st := c.Stats(); st.Sent != 1 {
			t.Errorf("stats %+v, want 1 sent", st)
		}
	}, "a", "b")
}

// A node's name is unique while it runs, and free again once it is closed: a restart.
func TestClusterNodeNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		a := c.Node(t, "a", pubsub.Config{})
		if _, err := pubsub.New(context.Background(), pubsub.Config{Name: "pubsubtest", Adapter: c.Adapter("a")}); err == nil {
			t.Fatal("a second live node named a started")
		}
		if _, err := pubsub.New(context.Background(), pubsub.Config{Name: "other", Adapter: c.Adapter("b")}); err == nil {
			t.Fatal("a node of another PubSub started on the cluster")
		}
		a.Close()
		a2 := c.Node(t, "a", pubsub.Config{})
		b := c.Node(t, "b", pubsub.Config{})
		s := newSub(t, a2)
		s.Subscribe("t")
		broadcast(t, b, "x")
		synctest.Wait()
		expectQueued(t, "the restarted a", s, "x")
	})
}

// Outside a bubble too: delivery needs no synctest.
func TestClusterInRealTime(t *testing.T) {
	c := pubsubtest.NewCluster()
	a, b := c.Node(t, "a", pubsub.Config{}), c.Node(t, "b", pubsub.Config{})
	s := newSub(t, b)
	s.Subscribe("t")
	broadcast(t, a, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m, err := s.Receive(ctx); err != nil || m.Payload != "x" {
		t.Fatalf("Receive = %v, %v", m, err)
	}
}

// Frames queued for a node when Disrupt or Close comes are lost, and counted.
func TestClusterCountsLostFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		hold := make(chan struct{})
		stall := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
			<-hold // b's delivery stops here, in the first frame
			pubsub.DefaultDispatcher().Dispatch(entries, from, msg)
		})
		cfg := pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"stall": stall}}
		a, b := c.Node(t, "a", cfg), c.Node(t, "b", cfg)
		s := newSub(t, b)
		s.Subscribe("t")
		for _, p := range []string{"x1", "x2", "x3"} {
			if err := a.Broadcast(context.Background(), "t", p, pubsub.WithDispatcher("stall")); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait() // b is in x1's dispatch; x2 and x3 are queued
		disrupted := make(chan error)
		go func() { disrupted <- c.Disrupt("b") }()
		synctest.Wait() // Disrupt has discarded x2 and x3, and waits for b's delivery
		close(hold)
		if err := <-disrupted; err != nil {
			t.Fatal(err)
		}
		expectQueued(t, "b", s, "x1")
		if st := c.Stats(); st.Sent != 3 || st.Delivered != 1 || st.Lost != 2 {
			t.Errorf("stats %+v, want 3 sent, 1 delivered, 2 lost", st)
		}
		broadcast(t, a, "y")
		synctest.Wait()
		if st := c.Stats(); st.Sent != 4 || st.Delivered != 2 {
			t.Errorf("stats %+v after the gap, want 4 sent, 2 delivered", st)
		}
		expectQueued(t, "b", s, "y")
	})
}

// newSub returns a new subscriber of ps, or fails the test.
func newSub(t testing.TB, ps *pubsub.PubSub, opts ...pubsub.MailboxOption) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber(opts...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	return s
}
