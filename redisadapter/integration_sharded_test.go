package redisadapter_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
	"github.com/phxgo/pubsub/redisadapter"
)

// Sharded pub/sub: Config.RouteByTopic with a *redis.ClusterClient, on the real cluster
// (PHXGO_REDIS_CLUSTER; miniredis has no SPUBLISH).

// shardedNodes starts routed nodes named names of a new PubSub over one ClusterClient each.
func shardedNodes(t testing.TB, c *liveCluster, name string, names ...string) ([]*pubsub.PubSub, []*redisadapter.Adapter) {
	t.Helper()
	var pss []*pubsub.PubSub
	var as []*redisadapter.Adapter
	for _, n := range names {
		ps, a := startNode(t, name, redisadapter.Config{Client: c.client(), NodeName: n, ProbeInterval: 250 * time.Millisecond,
			RouteByTopic: true, RouteLinger: 100 * time.Millisecond}, pubsub.Config{})
		pss, as = append(pss, ps), append(as, a)
	}
	return pss, as
}

func TestConformanceShardedCluster(t *testing.T) {
	c := realCluster(t, false)
	pubsubtest.Run(t, func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			a, err := redisadapter.New(redisadapter.Config{Client: c.client(), NodeName: "node" + strconv.Itoa(i),
				ProbeInterval: time.Second, RouteByTopic: true, RouteLinger: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			cc := cfg
			cc.Adapter = a
			ps, err := pubsub.New(context.Background(), cc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ps.Close() })
			nodes[i] = ps
		}
		return nodes
	}, pubsubtest.Features{Nodes: 3})
}

// commandCalls returns how many times each master ran cmd (INFO commandstats).
func (c *liveCluster) commandCalls(cmd string) map[string]int64 {
	c.t.Helper()
	out := make(map[string]int64)
	for _, n := range c.nodes() {
		info, err := c.server(n.addr).Info(ctx, "commandstats").Result()
		if err != nil {
			c.t.Fatalf("%s: INFO commandstats: %v", n.addr, err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
				calls, _, _ := strings.Cut(rest, ",")
				out[n.addr], _ = strconv.ParseInt(calls, 10, 64)
			}
		}
	}
	return out
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// Broadcasts on many topics, in every partition, reach the node that holds them, through SPUBLISH on
// the master of each partition's slot, in order per topic; a node that holds none of them gets none.
func TestShardedDeliveryAcrossPartitions(t *testing.T) {
	c := realCluster(t, false)
	name := uniqueName(t)
	pss, as := shardedNodes(t, c, name, "a", "b", "c")
	s := newSub(t, pss[1], pubsub.WithMailboxSize(1<<14))
	const topics, rounds = 64, 20
	for i := range topics {
		subscribeCtx(t, s, "room:"+strconv.Itoa(i))
	}
	if r := as[1].Routing(); r.Effective != r.Held || r.Pending != 0 {
		t.Fatalf("Routing %+v after SubscribeContext", r)
	}
	before := total(c.commandCalls("spublish"))
	for r := range rounds {
		for i := range topics {
			if err := pss[0].Broadcast(ctx, "room:"+strconv.Itoa(i), strconv.Itoa(r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := make(map[string]int)
	for range topics * rounds {
		msg := receive(t, s)
		if want := strconv.Itoa(next[msg.Topic]); msg.Payload != want {
			t.Fatalf("%s: got %v, want %s", msg.Topic, msg.Payload, want)
		}
		next[msg.Topic]++
	}
	if n := total(c.commandCalls("spublish")) - before; n != topics*rounds {
		t.Errorf("%d SPUBLISH, want %d", n, topics*rounds)
	}
	if got := as[2].Stats().Received; got != 0 {
		t.Errorf("node c, which holds no topic, received %d frames", got)
	}
	owners := make(map[string]bool)
	for i := range topics {
		owners[c.owner(c.keySlot(as[1].TopicChannel("room:"+strconv.Itoa(i)))).addr] = true
	}
	if len(owners) < 2 {
		t.Errorf("the topics' partitions all live on %v: not spread over the masters", owners)
	}
	if g := pss[1].Stats().GapsReported; g != 0 {
		t.Errorf("%d gaps reported", g)
	}
}

// Moving the slot of a topic's partition to another master: the server unsubscribes the partition's
// connection (SUNSUBSCRIBE, which go-redis would ignore), the node reconnects to the new owner,
// reports a gap scoped to the partition, and delivery resumes, nothing twice, nothing out of order.
func TestShardedSlotMigration(t *testing.T) {
	c := realCluster(t, true)
	name := uniqueName(t)
	pss, as := shardedNodes(t, c, name, "a", "b")
	gaps := gapSubscriber(t, pss[1])
	s := startStream(t, pss[0], subscribeTo(t, pss[1], "t"), time.Millisecond)
	sub := newSub(t, pss[1])
	subscribeCtx(t, sub, "t") // wait for the bucket, as subscribeTo does not
	sub.Close()
	s.waitPast(t, 5*time.Second, "the first broadcasts")

	slot := c.keySlot(as[1].TopicChannel("t"))
	src := c.owner(slot)
	var dst clusterNode
	for _, n := range c.nodes() {
		if n.master && n.id != src.id {
			dst = n
			break
		}
	}
	setslot := func(addr string, args ...any) {
		t.Helper()
		if err := c.server(addr).Do(ctx, append([]any{"cluster", "setslot", slot}, args...)...).Err(); err != nil {
			t.Fatalf("%s: CLUSTER SETSLOT %d %v: %v", addr, slot, args, err)
		}
	}
	moved := time.Now()
	setslot(dst.addr, "importing", src.id)
	setslot(src.addr, "migrating", dst.id)
	setslot(dst.addr, "node", dst.id)
	setslot(src.addr, "node", dst.id)
	c.waitHealthy(30 * time.Second)
	t.Cleanup(func() { // move it back, for the other tests
		setslot(src.addr, "importing", dst.id)
		setslot(dst.addr, "migrating", src.id)
		setslot(src.addr, "node", src.id)
		setslot(dst.addr, "node", src.id)
		c.waitHealthy(30 * time.Second)
	})
	g := expectGap(t, gaps, "b", 10*time.Second)
	if g.Scope == nil || !g.Affects("t") {
		t.Errorf("gap %+v: want one scoped to t's partition", g)
	}
	s.waitPast(t, 10*time.Second, "delivery after the migration")
	lost, silence, _ := s.finish(t, 5*time.Second, moved)
	_, n := s.last()
	t.Logf("moved slot %d from %s to %s; %d delivered, longest silence %v, %d acknowledged lost (reported as the gap)",
		slot, src.addr, dst.addr, n, silence.Round(time.Millisecond), len(lost))
	t.Logf("lost %v", lost)
	if st := as[1].Stats(); st.Reconnects == 0 || st.RouteUnexpected == 0 {
		t.Errorf("b's stats %+v: want a reconnect after the server's unsubscription", st)
	}
}

// Killing the master of a topic's partition: its replica takes over, the node resubscribes the
// partition there, reports a scoped gap, and delivery resumes within 10 s, in order.
func TestShardedFailover(t *testing.T) {
	c := realCluster(t, true)
	name := uniqueName(t)
	pss, as := shardedNodes(t, c, name, "a", "b")
	gaps := gapSubscriber(t, pss[1])
	s := startStream(t, pss[0], subscribeTo(t, pss[1], "t"), time.Millisecond)
	sub := newSub(t, pss[1])
	subscribeCtx(t, sub, "t")
	sub.Close()
	s.waitPast(t, 5*time.Second, "the first broadcasts")
	owner := c.owner(c.keySlot(as[1].TopicChannel("t")))
	killed := time.Now()
	revive := c.kill(owner)
	s.waitPast(t, 15*time.Second, "delivery after the failover")
	g := expectGap(t, gaps, "b", 5*time.Second)
	if g.Scope != nil && !g.Affects("t") {
		t.Errorf("gap %+v does not cover t", g)
	}
	revive()
	c.waitHealthy(60 * time.Second)
	s.waitPast(t, 5*time.Second, "broadcasts after the revival")
	lost, silence, resumed := s.finish(t, 5*time.Second, killed)
	t.Logf("killed %s; delivery resumed %v after the kill (silence %v); %d acknowledged lost; %d failed",
		owner.addr, resumed.Sub(killed).Round(time.Millisecond), silence.Round(time.Millisecond), len(lost), s.errors.Load())
	t.Logf("b: %+v", as[1].Stats())
}

// A ClusterClient that reads from replicas cannot carry sharded subscriptions the adapter can watch:
// New fails at once, with an error that says why.
func TestShardedRefusesReplicaReads(t *testing.T) {
	c := realCluster(t, false)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.seeds, MaxRetries: -1, ReadOnly: true})
	t.Cleanup(func() { client.Close() })
	a, err := redisadapter.New(redisadapter.Config{Client: client, NodeName: "a", RouteByTopic: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pubsub.New(ctx, pubsub.Config{Name: uniqueName(t), Adapter: a})
	if !errors.Is(err, pubsub.ErrInvalidConfig) || !strings.Contains(err.Error(), "reads from masters") {
		t.Fatalf("pubsub.New: %v, want an ErrInvalidConfig about reading from masters", err)
	}
}
