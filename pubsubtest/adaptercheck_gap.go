package pubsubtest

import (
	"testing"
	"time"
)

// checkGapAfterDisrupt: after AdapterFeatures.Disrupt breaks node 1's connection to the transport, node
// 1's host sees HandleGap within the delivery timeout, and frames flow both ways again.
func checkGapAfterDisrupt(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, 2)
	_, _, before := c.hosts[1].snapshot()
	s.disrupt(t, c.adapters[1])
	deadline := time.Now().Add(s.timeout)
	for {
		_, _, gaps := c.hosts[1].snapshot()
		if len(gaps) > len(before) {
			t.Logf("node 1: HandleGap(%v)", gaps[len(before)])
			break
		}
		if time.Now().After(deadline) {
			brokeFatal(t, ruleReportsGaps, "node 1 saw no HandleGap within %v of AdapterFeatures.Disrupt breaking its connection", s.timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	c.awaitFlow(t, "after-gap", ruleHandsFrames, ruleHandsFrames)
}
