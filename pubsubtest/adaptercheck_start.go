package pubsubtest

import (
	"context"
	"errors"
	"github.com/phxgo/pubsub"
	"testing"
)

// checkStartCarries: once every Start has returned, a frame sent at once, without retries, reaches its
// receivers both ways, broadcast and direct.
func checkStartCarries(t *testing.T, s *adapterSuite) {
	c := s.newCluster(t, s.size())
	if c.local {
		t.Skip("the adapter is pubsub.LocalOnly: it carries no frames")
	}
	c.start(t)
	for from := range c.adapters {
		c.mustSend(t, frameID{from: from, to: toAll, lane: "start", seq: 1})
		for _, to := range c.others(from) {
			c.mustSend(t, frameID{from: from, to: to, lane: "start", seq: 1})
		}
	}
	for from := range c.adapters {
		for _, to := range c.others(from) {
			if !c.expectStream(t, ruleStartReady, to, frameID{from: from, to: toAll, lane: "start"}.stream(), 1) ||
				!c.expectStream(t, ruleStartReady, to, frameID{from: from, to: to, lane: "start"}.stream(), 1) {
				return // one is enough: each would wait the delivery timeout
			}
		}
	}
}

// checkSecondStart: an adapter serves one PubSub, so a second Start fails (a second PubSub given the
// adapter then fails in New rather than share it).
func checkSecondStart(t *testing.T, s *adapterSuite) {
	c := s.cluster(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), adapterStartTimeout)
	defer cancel()
	if err := c.adapters[0].Start(ctx, newFakeHost(c, 0)); !errors.Is(err, pubsub.ErrAdapterInUse) {
		broke(t, ruleStartOnce, "a second Start on a started adapter returned %v, want an error wrapping pubsub.ErrAdapterInUse: "+
			"an adapter serves one PubSub, so a second PubSub given it must fail in New, and not close it", err)
	}
}

// checkNodeNameConstant: NodeName is the same before Start, after it, and after Close.
func checkNodeNameConstant(t *testing.T, s *adapterSuite) {
	c := s.cluster(t, 1) // start checks NodeName after Start
	a := c.adapters[0]
	if got := a.NodeName(); got != c.names[0] {
		broke(t, ruleNodeName, "NodeName was %q before Start and is %q when asked again", c.names[0], got)
	}
	if c.close(t, 0) {
		if got := a.NodeName(); got != c.names[0] {
			broke(t, ruleNodeName, "NodeName was %q before Start and is %q after Close", c.names[0], got)
		}
	}
}
