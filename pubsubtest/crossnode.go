package pubsubtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/phxgo/pubsub"
)

// Cross-node behaviour, on clusters of up to three nodes: node 0 is
// usually "A", the sender, node 1 "B", and node 2, when there is one, "C".
var crossNodeChecks = []check{
	{"NodeNamesDistinct", 2, testNodeNamesDistinct},
	{"BroadcastReachesEveryNodeOnce", 2, testBroadcastReachesEveryNode},
	{"BroadcastFromSkipsSenderOnItsNodeOnly", 2, testBroadcastFromAcrossNodes},
	{"LocalBroadcastStaysLocal", 2, testLocalBroadcastStaysLocal},
	{"DirectBroadcastReachesOneNode", 2, testDirectBroadcastReachesOneNode},
	{"DirectBroadcastToUnknownNode", 2, testDirectBroadcastUnknownAcrossNodes},
	{"DispatcherNameTravels", 2, testDispatcherTravels},
	{"DispatcherMayBroadcastOnReceivingNode", 2, testDispatcherReentersRemotely},
	{"CloseDoesNotDisturbOthers", 2, testCloseDoesNotDisturbOthers},
}

func testNodeNamesDistinct(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize()) // start checks that the names are distinct and non-empty
	for i, ps := range c.nodes {
		t.Logf("node %d: %q", i, ps.NodeName())
	}
}

// subscribeEach returns one subscriber of topic on each node.
func subscribeEach(t *testing.T, c *cluster, topic string) []*pubsub.Subscriber {
	t.Helper()
	subs := make([]*pubsub.Subscriber, len(c.nodes))
	for i, ps := range c.nodes {
		subs[i] = sub(t, ps, topic)
	}
	return subs
}

func testBroadcastReachesEveryNode(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	subs := subscribeEach(t, c, "room")
	twice := sub(t, c.nodes[1], "room", "room")
	for i, ps := range c.nodes {
		msg := fmt.Sprintf("from node %d", i)
		noErr(t, fmt.Sprintf("node %d: Broadcast", i), ps.Broadcast(t.Context(), "room", msg))
		for _, sub := range subs {
			s.expect(t, sub, "room", msg)
		}
		s.expect(t, twice, "room", msg, msg)
	}
	s.none(t, append(subs, twice)...) // exactly once: no duplicate arrives late
}

func testBroadcastFromAcrossNodes(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	a := c.nodes[0]
	sender := sub(t, a, "room")
	subs := subscribeEach(t, c, "room") // subs[0] is the sender's neighbour on A
	noErr(t, "BroadcastFrom", a.BroadcastFrom(t.Context(), sender, "room", "from sender"))
	for _, sub := range subs {
		s.expect(t, sub, "room", "from sender")
	}
	// A later broadcast from A is the sender's first message: nothing of the first reached it.
	noErr(t, "Broadcast", a.Broadcast(t.Context(), "room", "fence"))
	s.expect(t, sender, "room", "fence")
	for _, sub := range subs {
		s.expect(t, sub, "room", "fence")
	}
	s.none(t, append(subs, sender)...)
}

func testLocalBroadcastStaysLocal(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	a := c.nodes[0]
	sender := sub(t, a, "room")
	subs := subscribeEach(t, c, "room")
	noErr(t, "LocalBroadcast", a.LocalBroadcast("room", "local"))
	noErr(t, "LocalBroadcastFrom", a.LocalBroadcastFrom(sender, "room", "local from"))
	noErr(t, "Broadcast", a.Broadcast(t.Context(), "room", "fence"))
	s.expect(t, sender, "room", "local", "fence")
	s.expect(t, subs[0], "room", "local", "local from", "fence")
	for _, sub := range subs[1:] {
		s.expect(t, sub, "room", "fence") // the first message from A on another node
	}
	s.none(t, append(subs, sender)...)
}

func testDirectBroadcastReachesOneNode(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	subs := subscribeEach(t, c, "room")
	for i, ps := range c.nodes {
		for j, to := range c.nodes {
			noErr(t, fmt.Sprintf("DirectBroadcast from node %d to node %d", i, j),
				ps.DirectBroadcast(t.Context(), to.NodeName(), "room", seq{Src: i, N: j}))
		}
	}
	// Each node receives one message from each node, all addressed to it, in any order across senders.
	for j, sub := range subs {
		got := map[int]bool{}
		for range c.nodes {
			msg := s.recv(t, sub)
			q, ok := msg.Payload.(seq)
			switch {
			case !ok:
				t.Errorf("node %d received %#v, want a seq", j, msg.Payload)
			case q.N != j:
				t.Errorf("node %d received the direct broadcast from node %d to node %d", j, q.Src, q.N)
			case got[q.Src]:
				t.Errorf("node %d received the direct broadcast from node %d twice", j, q.Src)
			}
			got[q.Src] = true
		}
	}
	s.none(t, subs...)
}

func testDirectBroadcastUnknownAcrossNodes(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	subs := subscribeEach(t, c, "room")
	for i, ps := range c.nodes {
		noErr(t, fmt.Sprintf("node %d: DirectBroadcast to an unknown node", i), ps.DirectBroadcast(t.Context(), unknownNode, "room", "lost"))
	}
	s.none(t, subs...)
}

func testDispatcherTravels(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	a, b := c.nodes[0], c.nodes[1]
	sender, onA, onB := newSub(t, a), newSub(t, a), newSub(t, b)
	mustSubscribe(t, sender, "room", pubsub.WithMetadata("sender"))
	mustSubscribe(t, onA, "room", pubsub.WithMetadata("a"))
	mustSubscribe(t, onB, "room", pubsub.WithMetadata("b"))
	// Node C, if any, has no subscriber of "room": its dispatcher must not be called.
	opt := pubsub.WithDispatcher(recordDispatcher)
	ctx := t.Context()

	noErr(t, "Broadcast", a.Broadcast(ctx, "room", "broadcast", opt))
	s.expect(t, sender, "room", dispatched{Metadata: "sender", Payload: "broadcast"})
	s.expect(t, onA, "room", dispatched{Metadata: "a", Payload: "broadcast"})
	s.expect(t, onB, "room", dispatched{Metadata: "b", Payload: "broadcast"}) // B ran its own dispatcher, from nil

	noErr(t, "BroadcastFrom", a.BroadcastFrom(ctx, sender, "room", "broadcast from", opt))
	s.expect(t, sender, "room", dispatched{Metadata: "sender", From: sender, Payload: "broadcast from"})
	s.expect(t, onA, "room", dispatched{Metadata: "a", From: sender, Payload: "broadcast from"})
	s.expect(t, onB, "room", dispatched{Metadata: "b", Payload: "broadcast from"}) // from never travels

	noErr(t, "DirectBroadcast", a.DirectBroadcast(ctx, b.NodeName(), "room", "direct", opt))
	s.expect(t, onB, "room", dispatched{Metadata: "b", Payload: "direct"})

	s.none(t, sender, onA, onB)
	// One call per broadcast on each node with subscribers: 2 + 2 + 1.
	calls := c.rec.on("room")
	if len(calls) != 5 {
		t.Errorf("dispatcher called %d times, want 5 (once per broadcast on each node with subscribers, never on a node without): %v",
			len(calls), describeCalls(calls))
	}
	for _, cl := range calls {
		onNodeB := len(cl.entries) == 1 && cl.entries[0].Subscriber == onB
		onNodeA := sameEntries(cl.entries, []pubsub.Entry{{Subscriber: sender, Metadata: "sender"}, {Subscriber: onA, Metadata: "a"}})
		if !onNodeA && !onNodeB {
			t.Errorf("dispatcher call with entries of neither A nor B: %v", describeCalls([]call{cl}))
		}
		if onNodeB && cl.from != nil {
			t.Errorf("dispatcher on node B got from %v, want nil for a broadcast from another node", cl.from)
		}
	}
}

func testDispatcherReentersRemotely(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	a, b := c.nodes[0], c.nodes[1]
	onB := sub(t, b, "in")
	echo := sub(t, a, "out")
	ctx := t.Context()
	var fails failures
	var once sync.Once
	c.setHook(func(entries []pubsub.Entry, _ *pubsub.Subscriber, msg pubsub.Message) {
		if msg.Topic != "in" || len(entries) != 1 || entries[0].Subscriber != onB {
			return
		}
		// On B's receiving goroutine: subscribe, and broadcast back to A.
		once.Do(func() {
			late := newSub(t, b)
			fails.check("Subscribe inside a remote Dispatch", late.Subscribe("late"))
			fails.check("Close inside a remote Dispatch", late.Close())
			fails.check("Broadcast inside a remote Dispatch", b.Broadcast(ctx, "out", "echo"))
		})
	})
	within(t, s.timeout, "a Broadcast whose dispatcher on the receiving node broadcasts", func() {
		fails.check("Broadcast", a.Broadcast(ctx, "in", "ping", pubsub.WithDispatcher(hookDispatcher)))
	})
	s.expect(t, onB, "in", "ping")
	s.expect(t, echo, "out", "echo")
	fails.report(t)
	// B still receives after its receiving goroutine broadcast.
	noErr(t, "Broadcast", a.Broadcast(ctx, "in", "again"))
	s.expect(t, onB, "in", "again")
	s.none(t, onB, echo)
}

func testCloseDoesNotDisturbOthers(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	n := len(c.nodes)
	victim := c.nodes[n-1]
	subs := subscribeEach(t, c, "room")
	noErr(t, "Close", victim.Close())
	s.awaitClosed(t, subs[n-1])
	ctx := t.Context()
	for i, ps := range c.nodes[:n-1] {
		msg := fmt.Sprintf("after close, from node %d", i)
		noErr(t, fmt.Sprintf("node %d: Broadcast after another node closed", i), ps.Broadcast(ctx, "room", msg))
		noErr(t, fmt.Sprintf("node %d: DirectBroadcast to the closed node", i), ps.DirectBroadcast(ctx, victim.NodeName(), "room", "lost"))
		for _, sub := range subs[:n-1] {
			s.expect(t, sub, "room", msg)
		}
	}
	s.none(t, subs[:n-1]...)
}
