package pubsubtest

import (
	"fmt"
	"testing"
)

// framesPerSender is how many frames each sender sends in the delivery checks.
const framesPerSender = 20

// checkBroadcastReachesOthers: every node's broadcasts reach every other node, each frame once (and
// in order). A node that is handed its own frames back is tolerated, and logged: the PubSub skips the
// frames of its own incarnation (Host.HandleFrame), so this costs only the work.
func checkBroadcastReachesOthers(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	for from := range c.adapters {
		for seq := 1; seq <= framesPerSender; seq++ {
			c.mustSend(t, frameID{from: from, to: toAll, lane: "b", seq: seq})
		}
	}
	for from := range c.adapters {
		for _, to := range c.others(from) {
			c.expectStream(t, ruleBroadcast, to, frameID{from: from, to: toAll, lane: "b"}.stream(), framesPerSender)
		}
	}
	c.settle()
	for from := range c.adapters {
		for _, to := range c.others(from) {
			c.verifyStream(t, to, frameID{from: from, to: toAll, lane: "b"}.stream(), true)
		}
		if self, _, _ := c.hosts[from].snapshot(); len(self) > 0 {
			t.Logf("node %d was handed %d of its own frames back (first: %v); tolerated (the PubSub skips its own "+
				"incarnation's frames), but %v says other nodes", from, len(self), self[0], ruleBroadcast)
		}
	}
}

// checkDirectReachesTarget: a direct broadcast reaches its target once, in order, and no other node
// (the sender included).
func checkDirectReachesTarget(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	for from := range c.adapters {
		to := (from + 1) % len(c.adapters)
		for seq := 1; seq <= framesPerSender; seq++ {
			c.mustSend(t, frameID{from: from, to: to, lane: "d", seq: seq})
		}
	}
	for from := range c.adapters {
		to := (from + 1) % len(c.adapters)
		c.expectStream(t, ruleDirect, to, frameID{from: from, to: to, lane: "d"}.stream(), framesPerSender)
	}
	c.settle()
	for from := range c.adapters {
		to := (from + 1) % len(c.adapters)
		stream := frameID{from: from, to: to, lane: "d"}.stream()
		c.verifyStream(t, to, stream, true)
		for node := range c.adapters {
			if node != to {
				c.expectNone(t, ruleDirect, node, stream, fmt.Sprintf("direct broadcasts from node %d to node %d", from, to))
			}
		}
		c.expectNoSelf(t, ruleDirect, from, stream)
	}
}

// checkDirectUnknownNode: a direct broadcast to a node nobody runs returns nil and reaches no node.
func checkDirectUnknownNode(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	for seq := 1; seq <= 5; seq++ {
		id := frameID{from: 0, to: toUnknown, lane: "u", seq: seq}
		if err := c.send(t.Context(), id); err != nil {
			broke(t, ruleUnknownNode, "DirectBroadcast to %q, a node nobody runs, returned %v", unknownNode, err)
			return
		}
	}
	// A fence: direct frames from node 0 to every other node, sent after them. Once these have arrived,
	// a frame wrongly delivered to some node would have had the time to arrive too.
	for _, to := range c.others(0) {
		c.mustSend(t, frameID{from: 0, to: to, lane: "fence", seq: 1})
	}
	for _, to := range c.others(0) {
		c.expectStream(t, ruleDirect, to, frameID{from: 0, to: to, lane: "fence"}.stream(), 1)
	}
	c.settle()
	stream := frameID{from: 0, to: toUnknown, lane: "u"}.stream()
	for node := range c.adapters {
		c.expectNone(t, ruleUnknownNode, node, stream, "direct broadcasts to "+unknownNode)
	}
	c.expectNoSelf(t, ruleUnknownNode, 0, stream)
}

// checkBytesUntilReturn: the sender reuses one buffer for all its frames, overwriting it as soon as each
// call returns, as the PubSub does with its pooled buffers; receivers must still get every frame as it
// was when sent.
func checkBytesUntilReturn(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	const n = 200
	buf := make([]byte, 0, 256)
	for seq := 1; seq <= n; seq++ {
		for _, to := range []int{toAll, 1} {
			if err := c.sendIn(t.Context(), frameID{from: 0, to: to, lane: "bytes", seq: seq}, buf); err != nil {
				t.Fatalf("node 0: sending frame %d: %v", seq, err)
			}
			b := buf[:cap(buf)]
			for i := range b {
				b[i] = clobber
			}
		}
	}
	expect := func(rule sentence, to int, stream string) {
		if got, first := c.awaitStream(to, stream, n); got < n {
			if _, bad, _ := c.hosts[to].snapshot(); len(bad) > 0 {
				rule = ruleBytesValid // the missing frames arrived changed (reported when the check ends)
			}
			broke(t, rule, "node %d received %d of the %d frames of stream %s within %v (first missing: frame %d)",
				to, got, n, stream, c.s.timeout, first)
		}
	}
	for _, to := range c.others(0) {
		expect(ruleBroadcast, to, frameID{from: 0, to: toAll, lane: "bytes"}.stream())
	}
	expect(ruleDirect, 1, frameID{from: 0, to: 1, lane: "bytes"}.stream())
}

// expectNoSelf checks that node was not handed back its own frames of stream.
func (c *adapterCluster) expectNoSelf(t testing.TB, rule sentence, node int, stream string) {
	t.Helper()
	self, _, _ := c.hosts[node].snapshot()
	for _, id := range self {
		if id.stream() == stream {
			broke(t, rule, "node %d was handed back its own frame %v", node, id)
			return
		}
	}
}
