package redisadapter_test

import (
	"context"
	"testing"
	"time"

	"github.com/phxgo/pubsub/internal/faultproxy"
)

// Black holes: a connection that stays open and carries nothing, which go-redis cannot see. Node b
// talks to a private redis-server through a fault proxy; node a talks to it directly.

const (
	// blackholeProbe is the probe interval of these tests.
	blackholeProbe = 200 * time.Millisecond
	// blackholeSlack is the scheduling slack on top of the documented two intervals. The probe loop
	// looks every interval/4 and condemns a subscription silent for 1.5 intervals, so detection takes
	// 0.5 to 1.75 intervals after the hole opens (depending on when the last probe came back), and the
	// replacement subscription a few milliseconds more; 200 ms covers a loaded 2-core machine running
	// the race detector.
	blackholeSlack = 200 * time.Millisecond
	// sendBound bounds a broadcast from the black-holed node: it must fail or time out, not hang. Its
	// context allows 300 ms, and ends the wait whether the frame is queued or in a pipeline sent into
	// the hole; the rest is slack for a loaded machine.
	sendBound = time.Second
)

func startProxy(t testing.TB, upstream string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New("127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// timedBroadcast broadcasts from b with a 300 ms context and returns how long the call took.
func (n *twoNodes) timedBroadcast(t testing.TB) (time.Duration, error) {
	c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := n.b.Broadcast(c, "t", "into the hole")
	return time.Since(start), err
}

// The connections open now go silent (a NAT or load balancer lost their state); new connections work.
// b finds its subscription dead and replaces it within two probe intervals, reports the gap, and
// delivery resumes both ways.
func TestBlackholeStaleConnections(t *testing.T) {
	srv := startRedis(t)
	p := startProxy(t, srv.Addr())
	n := startTwoNodes(t, srv.URL(), "redis://"+p.Addr()+"/0", blackholeProbe)
	n.checkFlowing(t, 5*time.Second)
	drain(n.gapsB)
	before := n.ab.Stats()

	if silenced := p.BlackholeLive(); silenced < 2 {
		t.Fatalf("silenced %d connections, want b's subscription and its publishing connection", silenced)
	}
	start := time.Now()
	replaced := waitFor(t, 10*time.Second, "b to replace its silent subscription", func() bool {
		return n.ab.Stats().Reconnects > before.Reconnects
	})
	took := replaced.Sub(start)
	t.Logf("subscription replaced %v after the hole opened (probe interval %v)", took, blackholeProbe)
	if bound := 2*blackholeProbe + blackholeSlack; took > bound {
		t.Errorf("subscription replaced after %v, want ≤ %v (2 probe intervals + %v slack)", took, bound, blackholeSlack)
	}
	if st := n.ab.Stats(); st.ProbeFailures <= before.ProbeFailures {
		t.Errorf("ProbeFailures = %d, want > %d: the probe must be what found the dead subscription", st.ProbeFailures, before.ProbeFailures)
	}
	expectGap(t, n.gapsB, "b", 5*time.Second)

	d, err := n.timedBroadcast(t)
	t.Logf("a broadcast from b right after: %v (err %v)", d, err)
	if d > sendBound {
		t.Errorf("a broadcast from b took %v, want ≤ %v", d, sendBound)
	}
	deliveryResumes(t, 5*time.Second, "a → b (broadcast)", n.sb, n.aToB)
	deliveryResumes(t, 10*time.Second, "b → a (direct broadcast)", n.sa, n.bToA)
	t.Logf("b: %+v", n.ab.Stats())
}

// A partition: nothing passes on any connection, old or new, for a second. b finds its subscription
// dead within two probe intervals; its broadcasts fail or time out instead of hanging; once the
// partition heals, b resubscribes, reports the gap, and delivery resumes both ways.
func TestBlackholePartition(t *testing.T) {
	srv := startRedis(t)
	p := startProxy(t, srv.Addr())
	n := startTwoNodes(t, srv.URL(), "redis://"+p.Addr()+"/0", blackholeProbe)
	n.checkFlowing(t, 5*time.Second)
	drain(n.gapsB)
	before := n.ab.Stats()

	p.Blackhole(true)
	start := time.Now()
	detected := waitFor(t, 10*time.Second, "b to find its subscription dead", func() bool {
		return n.ab.Stats().ProbeFailures > before.ProbeFailures
	})
	took := detected.Sub(start)
	t.Logf("dead subscription found %v after the partition began (probe interval %v)", took, blackholeProbe)
	if bound := 2*blackholeProbe + blackholeSlack; took > bound {
		t.Errorf("found after %v, want ≤ %v (2 probe intervals + %v slack)", took, bound, blackholeSlack)
	}

	d, err := n.timedBroadcast(t)
	t.Logf("a broadcast from b during the partition: %v (err %v)", d, err)
	if err == nil {
		t.Error("a broadcast from b succeeded through a partition")
	}
	if d > sendBound {
		t.Errorf("a broadcast from b took %v during the partition, want ≤ %v", d, sendBound)
	}
	if rest := time.Second - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	p.Blackhole(false)
	healed := time.Now()
	back := waitFor(t, 10*time.Second, "b to resubscribe after the partition healed", func() bool {
		return n.ab.Stats().Reconnects > before.Reconnects
	})
	t.Logf("resubscribed %v after the partition healed", back.Sub(healed))
	expectGap(t, n.gapsB, "b", 5*time.Second)
	n.checkFlowing(t, 10*time.Second)
	t.Logf("b: %+v", n.ab.Stats())
}
