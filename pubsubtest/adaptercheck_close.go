package pubsubtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkCancelledContext: Broadcast and DirectBroadcast with a context already cancelled return within
// the delivery timeout. Sentence 4 lets them return nil (the transport accepted the frame before the
// adapter looked at ctx) or an error (the frame was not sent, or may have been); the suite accepts both,
// logs which, and checks only that the call returns.
func checkCancelledContext(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, to := range []int{toAll, toUnknown} {
		what := "Broadcast"
		if to != toAll {
			what = "DirectBroadcast"
		}
		var nils atomic.Int32
		returned := finishes(s.timeout, func() {
			for seq := 1; seq <= 10; seq++ {
				if c.send(ctx, frameID{from: 0, to: to, lane: "cancelled", seq: seq}) == nil {
					nils.Add(1)
				}
			}
		})
		if !returned {
			broke(t, ruleCtxEnds, "%s with a cancelled ctx has not returned after %v", what, s.timeout)
			continue
		}
		t.Logf("%s with a cancelled ctx: %d of 10 calls returned nil (accepted), the others an error", what, nils.Load())
	}
}

// checkCloseBounded: Close returns within the close timeout, on a cluster that has carried frames.
func checkCloseBounded(t *testing.T, s *adapterSuite) {
	c := s.newCluster(t, s.size())
	c.start(t)
	if !c.local && len(c.adapters) > 1 {
		c.awaitFlow(t, "ready", ruleBroadcast, ruleDirect)
	}
	for i := range c.adapters {
		start := time.Now()
		if c.close(t, i) {
			t.Logf("node %d: Close returned in %v", i, time.Since(start).Round(time.Microsecond))
		}
	}
}

// checkCloseWithoutStart: the PubSub closes an adapter it never started (after a Config error), and
// that Close returns too.
func checkCloseWithoutStart(t *testing.T, s *adapterSuite) {
	c := s.newCluster(t, 1)
	if !c.close(t, 0) {
		broke(t, ruleCloseAlways, "Close on an adapter that was never started did not return within %v", s.closeTimeout)
	}
}

// checkCloseStopsDelivery: node 0 floods node 1 with broadcasts and direct broadcasts while node 1
// closes; once node 1's Close has returned, its host is never called again.
func checkCloseStopsDelivery(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := 1; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			c.send(t.Context(), frameID{from: 0, to: toAll, lane: "flood", seq: seq}) // errors do not matter here
			c.send(t.Context(), frameID{from: 0, to: 1, lane: "flood", seq: seq})
		}
	})
	defer func() { close(stop); wg.Wait() }()
	c.expectStream(t, ruleBroadcast, 1, frameID{from: 0, to: toAll, lane: "flood"}.stream(), 10)
	if !c.close(t, 1) {
		return
	}
	time.Sleep(2 * s.quiet) // the flood goes on
	if late := c.hosts[1].takeLate(); len(late) > 0 {
		broke(t, ruleNoHostAfterClose, "node 1: %d Host calls after its Close returned, while node 0 kept sending (first: %s)",
			len(late), late[0])
	}
}

// checkSendAfterClose: Broadcast and DirectBroadcast on a closed adapter return an error, within the
// close timeout: a closed adapter has no transport to accept the frame, so nil would claim a send that
// did not happen, and a call that waits forever would hang the broadcaster.
func checkSendAfterClose(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	if !c.close(t, 0) {
		return
	}
	to := toUnknown
	if len(c.adapters) > 1 {
		to = 1
	}
	for _, id := range []frameID{{from: 0, to: toAll, lane: "closed", seq: 1}, {from: 0, to: to, lane: "closed", seq: 1}} {
		what := "Broadcast"
		if id.to != toAll {
			what = "DirectBroadcast"
		}
		var err error
		if !finishes(s.closeTimeout, func() { err = c.send(t.Context(), id) }) {
			broke(t, ruleAccepted, "%s after Close has not returned after %v; it must return an error", what, s.closeTimeout)
		} else if err == nil {
			broke(t, ruleAccepted, "%s after Close returned nil; a closed adapter has no transport to accept the frame", what)
		}
	}
}

// checkCloseOthersKeepWorking: after one node closes, frames still flow between the others.
func checkCloseOthersKeepWorking(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, 3)
	if !c.close(t, 2) {
		return
	}
	for seq := 1; seq <= framesPerSender; seq++ {
		c.mustSend(t, frameID{from: 0, to: toAll, lane: "after-close", seq: seq})
		c.mustSend(t, frameID{from: 1, to: 0, lane: "after-close", seq: seq})
	}
	c.expectStream(t, ruleBroadcast, 1, frameID{from: 0, to: toAll, lane: "after-close"}.stream(), framesPerSender)
	c.expectStream(t, ruleDirect, 0, frameID{from: 1, to: 0, lane: "after-close"}.stream(), framesPerSender)
}
