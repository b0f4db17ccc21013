package pubsubtest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// adapterStartTimeout bounds each Start, as pubsub.New bounds it.
const adapterStartTimeout = 10 * time.Second

// adapterCluster is the adapters a check of RunAdapter runs on, each with its fake host.
type adapterCluster struct {
	s        *adapterSuite
	name     string // the PubSub name the adapters namespace with
	token    string // marks this cluster's frames
	log      *slog.Logger
	adapters []pubsub.Adapter
	names    []string // NodeName of each adapter, read before Start
	hosts    []*fakeHost
	carrier  bool // the adapters carry messages (pubsub.MessageCarrier)
	local    bool // the adapters have no other nodes (pubsub.LocalOnly)
	// router is the first adapter, when the adapters route by topic (pubsub.TopicRouter with Routes
	// above 0): start then declares interest in the suite's topics on every node, and order is checked
	// per route (the contract's order holds per route for a router).
	router pubsub.TopicRouter

	mu     sync.Mutex
	closed []bool // Close has been called on the adapter
}

// newCluster asks the factory for n adapters, arranges for each to be closed when t ends (checking
// then that no host was called after its adapter's Close returned, and that every frame received was
// one the suite sent, as sent), and checks their node names. It does not start them.
func (s *adapterSuite) newCluster(t *testing.T, n int) *adapterCluster {
	t.Helper()
	logw := &tlogWriter{t: t}
	t.Cleanup(logw.stop) // after the adapters are closed: cleanups run last first
	c := &adapterCluster{
		s:     s,
		name:  clusterName(t),
		token: rand.Text()[:8],
		log:   slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	c.adapters = s.factory(t, n, c.name)
	c.closed = make([]bool, len(c.adapters))
	t.Cleanup(func() { c.finish(t) })
	if len(c.adapters) != n {
		t.Fatalf("AdapterFactory returned %d adapters for %d nodes", len(c.adapters), n)
	}
	seen := make(map[string]int, n)
	for i, a := range c.adapters {
		if a == nil {
			t.Fatalf("AdapterFactory returned a nil adapter for node %d", i)
		}
		name := a.NodeName()
		if name == "" {
			brokeFatal(t, ruleNodeName, "node %d: NodeName is empty before Start", i)
		}
		if j, ok := seen[name]; ok {
			t.Fatalf("nodes %d and %d have the same NodeName %q; the AdapterFactory must make them distinct", j, i, name)
		}
		seen[name] = i
		c.names = append(c.names, name)
		c.hosts = append(c.hosts, newFakeHost(c, i))
	}
	if mc, ok := c.adapters[0].(pubsub.MessageCarrier); ok && mc.CarriesMessages() {
		c.carrier = true
	}
	if lo, ok := c.adapters[0].(pubsub.LocalOnly); ok && lo.LocalOnly() {
		c.local = true
	}
	return c
}

// cluster returns a started cluster of n adapters.
func (s *adapterSuite) cluster(t *testing.T, n int) *adapterCluster {
	t.Helper()
	c := s.newCluster(t, n)
	c.start(t)
	return c
}

// sendingCluster returns a started cluster of n adapters that frames flow between (see awaitFlow), or
// skips the check for an adapter the PubSub never sends through.
func (s *adapterSuite) sendingCluster(t *testing.T, n int) *adapterCluster {
	t.Helper()
	c := s.newCluster(t, n)
	if c.local {
		t.Skip("the adapter is pubsub.LocalOnly: the PubSub never calls its Broadcast or DirectBroadcast")
	}
	c.start(t)
	if n > 1 {
		c.awaitFlow(t, "ready", ruleBroadcast, ruleDirect)
	}
	return c
}

// start starts every adapter, each with its host, and checks that NodeName did not change.
func (c *adapterCluster) start(t *testing.T) {
	t.Helper()
	for i, a := range c.adapters {
		ctx, cancel := context.WithTimeout(t.Context(), adapterStartTimeout)
		err := a.Start(ctx, c.hosts[i])
		cancel()
		if err != nil {
			brokeFatal(t, ruleStartReady, "node %d: Start: %v", i, err)
		}
		if got := a.NodeName(); got != c.names[i] {
			broke(t, ruleNodeName, "node %d: NodeName was %q before Start and is %q after", i, c.names[i], got)
		}
	}
	c.interest(t)
}

// interest makes every node of a cluster of routers hold the suite's topics, as a PubSub whose
// subscribers hold them would, and waits until each node receives them (TopicRouter.AwaitTopic).
func (c *adapterCluster) interest(t *testing.T) {
	t.Helper()
	if len(c.adapters) == 0 {
		return
	}
	r, ok := c.adapters[0].(pubsub.TopicRouter)
	if !ok || r.Routes() <= 0 {
		return
	}
	c.router = r
	for i, a := range c.adapters {
		ar, ok := a.(pubsub.TopicRouter)
		if !ok {
			brokeFatal(t, ruleStartReady, "node %d is not a pubsub.TopicRouter, node 0 is", i)
		}
		for k := range suiteTopics {
			ar.Interest(frameID{seq: k}.topic(), true)
		}
		for k := range suiteTopics {
			ctx, cancel := context.WithTimeout(t.Context(), adapterStartTimeout)
			err := ar.AwaitTopic(ctx, frameID{seq: k}.topic())
			cancel()
			if err != nil {
				brokeFatal(t, ruleStartReady, "node %d: AwaitTopic(%q): %v", i, frameID{seq: k}.topic(), err)
			}
		}
	}
}

// routeOf returns the route order is checked within for the frame numbered seq: its topic's route for
// a cluster of routers, else 0 (one order for the whole stream).
func (c *adapterCluster) routeOf(seq int) int {
	if c.router == nil {
		return 0
	}
	return c.router.Route(frameID{seq: seq}.topic())
}

// close closes adapter i, once, and reports a Close that does not return within the close timeout; a
// stuck Close is left behind rather than hang the test binary. It returns whether Close returned.
func (c *adapterCluster) close(t testing.TB, i int) bool {
	t.Helper()
	c.mu.Lock()
	already := c.closed[i]
	c.closed[i] = true
	c.mu.Unlock()
	if already {
		return true
	}
	done := make(chan error, 1)
	go func() { done <- c.adapters[i].Close() }()
	timer := time.NewTimer(c.s.closeTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if i < len(c.hosts) {
			c.hosts[i].markClosed()
		}
		if err != nil {
			t.Logf("node %d: Close: %v", i, err)
		}
		return true
	case <-timer.C:
		broke(t, ruleCloseBounded, "node %d: Close did not return within %v", i, c.s.closeTimeout)
		return false
	}
}

// finish closes every adapter not closed yet, then reports Host calls after Close and frames that
// were not the suite's as sent.
func (c *adapterCluster) finish(t testing.TB) {
	for i := range c.adapters {
		if c.adapters[i] != nil {
			c.close(t, i)
		}
	}
	for i, h := range c.hosts {
		_, bad, _ := h.snapshot()
		if late := h.takeLate(); len(late) > 0 {
			broke(t, ruleNoHostAfterClose, "node %d: %d Host calls after Close returned (first: %s)", i, len(late), late[0])
		}
		for _, b := range bad {
			rule := ruleBroadcast
			if strings.Contains(b, "after the call that sent it returned") || strings.Contains(b, "reuse of its buffer") {
				rule = ruleBytesValid
			}
			if c.carrier {
				b = strings.ReplaceAll(b, "frame", "message")
			}
			broke(t, rule, "node %d received %s", i, b)
			break // the first is enough; a broken adapter spoils many
		}
	}
}

// send sends frame id from its node: a broadcast, or a direct broadcast to its target.
func (c *adapterCluster) send(ctx context.Context, id frameID) error {
	return c.sendIn(ctx, id, nil)
}

// sendIn sends frame id from its node in buf (reusing its capacity), and returns buf. The PubSub's
// frames live in pooled buffers too.
func (c *adapterCluster) sendIn(ctx context.Context, id frameID, buf []byte) error {
	buf = appendFrame(buf[:0], c.token, id)
	f := pubsub.Frame{Topic: id.topic(), Bytes: buf}
	if c.carrier {
		f = pubsub.Frame{Topic: id.topic(), Payload: buf}
	}
	a := c.adapters[id.from]
	switch id.to {
	case toAll:
		return a.Broadcast(ctx, f)
	case toUnknown:
		return a.DirectBroadcast(ctx, unknownNode, f)
	default:
		return a.DirectBroadcast(ctx, c.names[id.to], f)
	}
}

// mustSend sends frame id and fails the check if the call returns an error.
func (c *adapterCluster) mustSend(t testing.TB, id frameID) {
	t.Helper()
	if err := c.send(t.Context(), id); err != nil {
		t.Fatalf("node %d: sending frame %v: %v", id.from, id, err)
	}
}

// awaitFlow sends a broadcast from every node, and a direct broadcast from every node to every other,
// on lane, again and again, until each has arrived at least once; it fails the check (with bRule or
// dRule) after the delivery timeout. Adapters meant to be ready once Start returns are checked by
// checkStartCarries; the other checks wait like this so that they report their own sentence.
func (c *adapterCluster) awaitFlow(t testing.TB, lane string, bRule, dRule sentence) {
	t.Helper()
	deadline := time.Now().Add(c.s.timeout)
	for seq := 1; ; seq++ {
		late := seq > 1 && time.Now().After(deadline)
		done := true
		for from := range c.adapters {
			needB := false
			for to := range c.adapters {
				if to == from {
					continue
				}
				if len(c.hosts[to].seqs(frameID{from: from, to: toAll, lane: lane}.stream())) == 0 {
					if late {
						brokeFatal(t, bRule, "no broadcast from node %d reached node %d within %v", from, to, c.s.timeout)
					}
					needB = true
				}
				if len(c.hosts[to].seqs(frameID{from: from, to: to, lane: lane}.stream())) == 0 {
					if late {
						brokeFatal(t, dRule, "no direct broadcast from node %d reached node %d within %v", from, to, c.s.timeout)
					}
					done = false
					c.mustSend(t, frameID{from: from, to: to, lane: lane, seq: seq})
				}
			}
			if needB {
				done = false
				c.mustSend(t, frameID{from: from, to: toAll, lane: lane, seq: seq})
			}
		}
		if done {
			return
		}
		time.Sleep(time.Millisecond << min(seq, 5))
	}
}
