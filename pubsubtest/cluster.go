package pubsubtest

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// Names of the dispatchers the suite puts in Config.Dispatchers.
const (
	recordDispatcher  = "pubsubtest.record"  // records every call and delivers a dispatched to every entry
	hookDispatcher    = "pubsubtest.hook"    // runs the cluster's hook, then the default dispatch
	defaultDispatcher = "pubsubtest.default" // pubsub.DefaultDispatcher() under a name
	unknownDispatcher = "pubsubtest.unknown" // never registered
)

// unknownNode is a node name no cluster has.
const unknownNode = "pubsubtest-no-such-node"

// readyTopic carries the sentinels of the readiness check; no check subscribes to it.
const readyTopic = "pubsubtest:ready"

// cluster is the PubSubs a check runs on, with the suite's dispatchers and slow-consumer log, which
// all its nodes share.
type cluster struct {
	s     *suite
	nodes []*pubsub.PubSub
	rec   *recorder
	slow  *slowLog
	hook  atomic.Pointer[dispatchHook]
}

// dispatchHook runs inside the hook dispatcher's Dispatch, before it delivers.
type dispatchHook func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message)

var clusterSeq atomic.Uint64

// start asks the factory for a cluster of n nodes, arranges for it to be closed when t ends, checks
// the node names, and waits until the cluster is ready (see Factory).
func (s *suite) start(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{s: s, rec: &recorder{}, slow: &slowLog{}}
	cfg := pubsub.Config{
		Name: clusterName(t),
		Dispatchers: map[string]pubsub.Dispatcher{
			recordDispatcher:  c.rec,
			hookDispatcher:    pubsub.DispatcherFunc(c.runHook),
			defaultDispatcher: pubsub.DefaultDispatcher(),
		},
		OnSlowConsumer: c.slow.add,
	}
	c.nodes = s.factory(t, n, cfg)
	for i, ps := range c.nodes {
		if ps != nil {
			t.Cleanup(func() { s.close(t, i, ps) })
		}
	}
	if len(c.nodes) != n {
		t.Fatalf("factory returned %d PubSubs for %d nodes", len(c.nodes), n)
	}
	seen := make(map[string]int, n)
	for i, ps := range c.nodes {
		if ps == nil {
			t.Fatalf("factory returned a nil PubSub for node %d", i)
		}
		name := ps.NodeName()
		if name == "" {
			t.Fatalf("node %d: NodeName is empty", i)
		}
		if j, ok := seen[name]; ok {
			t.Fatalf("nodes %d and %d have the same NodeName %q; the factory must make them distinct", j, i, name)
		}
		seen[name] = i
	}
	if n > 1 {
		c.awaitReady(t)
	}
	return c
}

// close closes node i, reporting an error or a Close that does not return within the delivery
// timeout. A PubSub deadlocked by the check that failed would otherwise hang the test binary, hiding
// which check failed; the stuck goroutine is left behind instead.
func (s *suite) close(t *testing.T, i int, ps *pubsub.PubSub) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- ps.Close() }()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("node %d: Close: %v", i, err)
		}
	case <-timer.C:
		t.Errorf("node %d: Close did not return within %v (deadlocked?)", i, s.timeout)
	}
}

// clusterName returns a Config.Name unique to this test, to this run and across processes, so that
// clusters sharing a server never see each other's traffic.
func clusterName(t testing.TB) string {
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	if len(name) > 150 {
		name = name[len(name)-150:]
	}
	return fmt.Sprintf("pubsubtest.%s.%d.%s", rand.Text()[:8], clusterSeq.Add(1), name)
}

// runHook is the hook dispatcher: it runs the check's hook (if any) on the goroutine that dispatches,
// then delivers like the default dispatcher.
func (c *cluster) runHook(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
	if h := c.hook.Load(); h != nil {
		(*h)(entries, from, msg)
	}
	pubsub.DefaultDispatcher().Dispatch(entries, from, msg)
}

// setHook makes h run inside every Dispatch of the hook dispatcher on every node of the cluster.
func (c *cluster) setHook(h dispatchHook) { c.hook.Store(&h) }

// awaitReady sends a broadcast and a direct broadcast of a ping from every node to every other node,
// again and again, until each has arrived once, or fails t after the delivery timeout.
func (c *cluster) awaitReady(t *testing.T) {
	t.Helper()
	n := len(c.nodes)
	subs := make([]*pubsub.Subscriber, n)
	for i, ps := range c.nodes {
		subs[i] = newSub(t, ps, pubsub.WithMailboxSize(4096))
		defer subs[i].Close()
		if err := subs[i].Subscribe(readyTopic); err != nil {
			t.Fatalf("node %d: Subscribe(%q): %v", i, readyTopic, err)
		}
	}
	// got[kind][from][to] says whether node to has received a ping of kind (0 broadcast, 1 direct) from node from.
	var got [2][][]bool
	for k := range got {
		got[k] = make([][]bool, n)
		for i := range got[k] {
			got[k][i] = make([]bool, n)
			got[k][i][i] = true
		}
	}
	missing := 2 * n * (n - 1)
	ctx := t.Context()
	deadline := time.Now().Add(c.s.timeout)
	for round := 0; missing > 0; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready after %v: %d of %d sentinels have not arrived (a broadcast or direct broadcast "+
				"from one node to another does not get through): %v", c.s.timeout, missing, 2*n*(n-1), describeMissing(got))
		}
		for i, ps := range c.nodes {
			if !all(got[0][i]) {
				if err := ps.Broadcast(ctx, readyTopic, ping{From: i, Round: round}); err != nil {
					t.Fatalf("node %d: Broadcast of a sentinel: %v", i, err)
				}
			}
			for j, to := range c.nodes {
				if !got[1][i][j] {
					if err := ps.DirectBroadcast(ctx, to.NodeName(), readyTopic, ping{From: i, Direct: true, Round: round}); err != nil {
						t.Fatalf("node %d: DirectBroadcast of a sentinel to node %d: %v", i, j, err)
					}
				}
			}
		}
		wait := time.NewTimer(min(10*time.Millisecond<<min(round, 4), time.Until(deadline)))
	collect:
		for missing > 0 {
			for j, sub := range subs {
				select {
				case msg := <-sub.C():
					p, ok := msg.Payload.(ping)
					if !ok {
						t.Fatalf("node %d: sentinel arrived as %T (%v), not as its registered type", j, msg.Payload, msg.Payload)
					}
					k := 0
					if p.Direct {
						k = 1
					}
					if p.From >= 0 && p.From < n && !got[k][p.From][j] {
						got[k][p.From][j] = true
						missing--
					}
					continue collect
				default:
				}
			}
			select {
			case <-wait.C:
				break collect
			case <-time.After(time.Millisecond):
			}
		}
		wait.Stop()
	}
}

func all(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

func describeMissing(got [2][][]bool) string {
	var b strings.Builder
	for k, kind := range []string{"broadcast", "direct"} {
		for i := range got[k] {
			for j, ok := range got[k][i] {
				if !ok {
					fmt.Fprintf(&b, "[%s %d→%d] ", kind, i, j)
				}
			}
		}
	}
	return strings.TrimSpace(b.String())
}
