package pubsubtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// orderedFrames is how many frames each stream of the order checks carries.
const orderedFrames = 1000

// checkOrderSequential: node 0 sends 1000 broadcasts and 1000 direct broadcasts to node 1, interleaved,
// one call after the other, on topics that vary; each receiver gets each stream complete, once, and in
// order. (Order is checked per stream, the broadcasts of a sender or its direct frames to one target,
// as the PubSub numbers them; the contract does not let an adapter reorder across streams either, but
// the PubSub would not notice, so the suite does not check it.)
func checkOrderSequential(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	for seq := 1; seq <= orderedFrames; seq++ {
		c.mustSend(t, frameID{from: 0, to: toAll, lane: "seq", seq: seq})
		c.mustSend(t, frameID{from: 0, to: 1, lane: "seq", seq: seq})
	}
	streams := map[int][]string{1: {frameID{from: 0, to: 1, lane: "seq"}.stream()}}
	for _, to := range c.others(0) {
		streams[to] = append(streams[to], frameID{from: 0, to: toAll, lane: "seq"}.stream())
	}
	c.expectOrdered(t, streams, orderedFrames)
}

// checkOrderConcurrent: every node runs several goroutines at once, each sending its own sequence of
// frames, broadcasts or direct broadcasts to the next node; each goroutine's calls do not overlap, so
// each sequence arrives complete, once, and in order. Run with -race: Broadcast and DirectBroadcast must
// be safe to call concurrently.
func checkOrderConcurrent(t *testing.T, s *adapterSuite) {
	c := s.sendingCluster(t, s.size())
	const goroutines, perGoroutine = 4, orderedFrames / 4
	streams := map[int][]string{}
	var wg sync.WaitGroup
	for from := range c.adapters {
		for g := range goroutines {
			to := toAll
			if g%2 == 1 {
				to = (from + 1) % len(c.adapters)
			}
			lane := fmt.Sprintf("g%d", g)
			for _, node := range c.others(from) {
				if to == toAll || to == node {
					streams[node] = append(streams[node], frameID{from: from, to: to, lane: lane}.stream())
				}
			}
			wg.Go(func() {
				for seq := 1; seq <= perGoroutine; seq++ {
					id := frameID{from: from, to: to, lane: lane, seq: seq}
					if err := c.send(t.Context(), id); err != nil {
						broke(t, ruleConcurrent, "node %d: sending frame %v concurrently with %d other goroutines: %v",
							from, id, goroutines*len(c.adapters)-1, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	c.expectOrdered(t, streams, perGoroutine)
}

// expectOrdered waits for frames 1..n of each stream at each node of streams, then checks that each
// arrived once and in order.
func (c *adapterCluster) expectOrdered(t testing.TB, streams map[int][]string, n int) {
	t.Helper()
	complete := true
	for node, ss := range streams {
		for _, stream := range ss {
			rule := ruleBroadcast
			if !strings.Contains(stream, ">*/") {
				rule = ruleDirect
			}
			complete = c.expectStream(t, rule, node, stream, n) && complete
		}
	}
	if !complete {
		return
	}
	c.settle()
	for node, ss := range streams {
		for _, stream := range ss {
			c.verifyStream(t, node, stream, true)
		}
	}
}
