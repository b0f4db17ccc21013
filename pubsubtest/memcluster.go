package pubsubtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/phxgo/pubsub"
)

// Cluster is an in-memory network for the nodes of one PubSub: a transport for tests, so that two or
// more nodes run in one process without Redis. Each node's adapter comes from Adapter (or Node starts a
// PubSub on one); frames travel between the nodes without being parsed, as on any transport, and faults
// are injected by node name (Partition, Block, Drop), observed (Tap, Stats, Errors) or provoked (Inject,
// Disrupt, FailSends, SetMaxFrame).
//
// Delivery is asynchronous and in order: a send queues the frame for each receiver, in the order of the
// sends, and each node hands its queue to its PubSub on a goroutine of its own, one frame at a time. So
// the frames of one sender reach each receiver in the order they were sent, and a Broadcast returns
// before any other node has handled its frame, as over a network. The goroutine is started by the
// adapter's Start (in New) and stopped by its Close (in PubSub.Close).
//
// A Cluster works inside testing/synctest bubbles: start its nodes inside the bubble (the Cluster itself
// may be made anywhere), and synctest.Wait returns once every frame sent so far has been handled by its
// receiver. The nodes of one Cluster must all run in the same bubble, or all outside any.
//
// A Cluster carries the traffic of one PubSub (one pubsub.Config.Name): use a Cluster per PubSub. The
// zero value is not usable; call NewCluster. Its methods are safe for concurrent use.
type Cluster struct {
	mu      sync.Mutex
	nodes   map[string]*clusterNode // live nodes by name
	psName  string                  // the Config.Name of the live nodes' PubSub
	group   map[string]int          // partition group by node name; absent: group 0
	blocked map[[2]string]bool      // blocked directions, {from, to}
	drop    func(Frame) bool
	tap     func(Frame)
	fail    error
	max     int
	stats   ClusterStats
	errs    []error
}

// Frame is one frame on its way from one node to another, as a Cluster's Drop filter and Tap see it. A
// broadcast is one Frame per receiving node.
type Frame struct {
	From string // the sending node
	To   string // the receiving node
	// Direct is true for a frame sent by DirectBroadcast (to To only), false for a broadcast's.
	Direct bool
	Topic  string // the message's topic (pubsub.Frame.Topic)
	// Bytes is the frame as sent. The Frames of one send share it: do not modify it.
	Bytes []byte
	// Dropped is true, for a Tap, when the frame was dropped by a partition, a block or the Drop filter.
	Dropped bool
}

// ClusterStats counts a Cluster's frames, one per receiving node (a broadcast to three other nodes
// counts three). Sent = Dropped + Delivered + Lost + the frames still queued.
type ClusterStats struct {
	Sent      uint64 // frames sent to a live node, dropped or not
	Dropped   uint64 // dropped by a partition, a block or the Drop filter
	Delivered uint64 // handed to the receiving node's pubsub.Host
	Lost      uint64 // queued, then discarded by Disrupt or by the receiver's Close
	Rejected  uint64 // delivered, and refused by the Host with an error other than pubsub.ErrClosed (see Errors)
}

var (
	// ErrDisrupted is the reason of the pubsub.Gap that Cluster.Disrupt reports.
	ErrDisrupted = errors.New("pubsubtest: transport disrupted")
	// ErrFrameTooLarge is returned (wrapped) by a send over the limit Cluster.SetMaxFrame sets.
	ErrFrameTooLarge = errors.New("pubsubtest: frame too large")
	// ErrNoNode is returned (wrapped) by Cluster.Inject and Cluster.Disrupt for a node not running.
	ErrNoNode = errors.New("pubsubtest: no such node")
)

// NewCluster returns an empty Cluster: no nodes, no faults.
func NewCluster() *Cluster {
	return &Cluster{nodes: map[string]*clusterNode{}, group: map[string]int{}, blocked: map[[2]string]bool{}}
}

// Adapter returns a new adapter for the node named name, for pubsub.Config.Adapter. The PubSub starts it
// and closes it. Node names are unique among the running nodes of a Cluster: Start fails for a name in
// use; once that node is closed, a new one may take its name (a restart).
func (c *Cluster) Adapter(name string) pubsub.Adapter {
	return &clusterNode{c: c, name: name}
}

// Node starts a PubSub with cfg as the node named name of the cluster (cfg.Adapter is replaced by the
// node's adapter; an empty cfg.Name becomes "pubsubtest"), and closes it when the test ends. It fails
// the test if New fails.
func (c *Cluster) Node(t testing.TB, name string, cfg pubsub.Config) *pubsub.PubSub {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "pubsubtest"
	}
	cfg.Adapter = c.Adapter(name)
	ps, err := pubsub.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pubsubtest: node %q: %v", name, err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// Partition cuts the cluster into groups of node names: frames between nodes of different groups are
// dropped, both ways. Nodes not named form one more group. A Partition replaces the previous one.
func (c *Cluster) Partition(groups ...[]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.group)
	for i, g := range groups {
		for _, name := range g {
			c.group[name] = i + 1
		}
	}
}

// Heal ends the partition and every block (not the Drop filter): every node hears every other again.
// Frames dropped meanwhile stay lost: a receiver that hears from their sender again reports them as a
// pubsub.Gap on pubsub.GapTopic, once the hole has stayed open for the PubSub's reorder grace (under a
// second).
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.group)
	clear(c.blocked)
}

// Block drops the frames from node from to node to (one direction), until Unblock or Heal.
func (c *Cluster) Block(from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocked[[2]string{from, to}] = true
}

// Unblock ends a Block.
func (c *Cluster) Unblock(from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.blocked, [2]string{from, to})
}

// Drop sets a filter on every frame sent from then on: the frames it returns true for are dropped. Nil
// removes the filter. The filter is called with the cluster locked, in the order of the sends: it must
// not call the Cluster or a PubSub.
func (c *Cluster) Drop(filter func(Frame) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop = filter
}

// Tap sets a function that sees every frame sent from then on, dropped or not (Frame.Dropped), when it
// is sent. Nil removes it. It is called as the Drop filter is, and must not call the Cluster or a PubSub.
func (c *Cluster) Tap(tap func(Frame)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tap = tap
}

// FailSends makes every Broadcast and DirectBroadcast of every node return err (the frame not sent), as
// a transport that is down would; nil ends it.
func (c *Cluster) FailSends(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

// SetMaxFrame makes sends of frames larger than n bytes fail with an error wrapping ErrFrameTooLarge,
// as a transport with a message size limit does (redisadapter's MaxMessageSize). 0 means no limit, the
// default.
func (c *Cluster) SetMaxFrame(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = n
}

// Stats returns the cluster's counts so far.
func (c *Cluster) Stats() ClusterStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Errors returns what the nodes' Hosts returned for the frames they refused (ClusterStats.Rejected), in
// the order they refused them, each naming the node. A frame refused with pubsub.ErrClosed (its receiver
// was closing) is not an error here.
func (c *Cluster) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// Inject hands frame to the node named to as if it had come over the network from another node: behind
// every frame already on its way to that node. It returns once the node's Host has handled it, with what
// HandleFrame returned (why the frame was dropped, say), or an error wrapping ErrNoNode if no node of
// that name is running. Use it for hostile bytes: forged, replayed or malformed frames. Injected frames
// are not counted in Stats. Inject must not be called from the receiving node's delivery (a dispatcher
// or a handler called by its PubSub), which would wait for itself.
func (c *Cluster) Inject(to string, frame []byte) error {
	n := c.live(to)
	if n == nil {
		return fmt.Errorf("%w: %q", ErrNoNode, to)
	}
	return n.call(item{frame: string(frame), reply: make(chan error, 1)}, false)
}

// Disrupt makes the node named node lose every frame queued for it and report the loss to its PubSub
// (Host.HandleGap with ErrDisrupted, which its subscribers of pubsub.GapTopic see as a pubsub.Gap), as a
// transport that lost its connection and made a new one would. Frames sent afterwards arrive as usual.
// It returns once the Host has been told, or with an error wrapping ErrNoNode. Like Inject, it must not
// be called from that node's delivery.
func (c *Cluster) Disrupt(node string) error {
	n := c.live(node)
	if n == nil {
		return fmt.Errorf("%w: %q", ErrNoNode, node)
	}
	return n.call(item{gap: true, reply: make(chan error, 1)}, true)
}

// live returns the running node named name, or nil.
func (c *Cluster) live(name string) *clusterNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

// send queues frame, from node from, for every other node (direct false) or for the node named to.
func (c *Cluster) send(ctx context.Context, from *clusterNode, to string, direct bool, f pubsub.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := from.sendable(); err != nil {
		return err
	}
	frame := string(f.Bytes) // f.Bytes is valid only until the call returns
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	if c.max > 0 && len(frame) > c.max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(frame), c.max)
	}
	var names []string
	if direct {
		if c.nodes[to] != nil {
			names = []string{to}
		}
	} else {
		names = make([]string, 0, len(c.nodes))
		for name := range c.nodes {
			if name != from.name {
				names = append(names, name)
			}
		}
		slices.Sort(names) // a deterministic order for Tap and Drop
	}
	var shared []byte // Frame.Bytes, made once per send if a filter or tap needs it
	for _, name := range names {
		fr := Frame{From: from.name, To: name, Direct: direct, Topic: f.Topic}
		if c.drop != nil || c.tap != nil {
			if shared == nil {
				shared = []byte(frame)
			}
			fr.Bytes = shared
		}
		fr.Dropped = c.group[from.name] != c.group[name] || c.blocked[[2]string{from.name, name}] || (c.drop != nil && c.drop(fr))
		if c.tap != nil {
			c.tap(fr)
		}
		c.stats.Sent++
		if fr.Dropped {
			c.stats.Dropped++
			continue
		}
		c.nodes[name].enqueue(item{frame: frame})
	}
	return nil
}

// clusterNode is one node's adapter on a Cluster.
type clusterNode struct {
	c    *Cluster
	name string

	mu      sync.Mutex
	host    pubsub.Host
	started bool
	closed  bool
	queue   []item
	wake    chan struct{} // made by Start, so that they belong to the synctest bubble the node runs in
	done    chan struct{}
	stopped chan struct{}
}

// item is one thing a node's delivery hands to its Host: a frame, or a gap.
type item struct {
	frame string
	gap   bool
	reply chan error // for Inject and Disrupt: what the Host returned; nil for frames sent between nodes
}

var errNodeClosed = fmt.Errorf("pubsubtest: cluster node closed: %w", pubsub.ErrClosed)

func (n *clusterNode) Start(_ context.Context, host pubsub.Host) error {
	if n.name == "" {
		return errors.New("pubsubtest: a cluster node needs a name")
	}
	c := n.c
	c.mu.Lock() // the cluster's lock before a node's, always
	defer c.mu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return fmt.Errorf("pubsubtest: cluster node %q: %w", n.name, pubsub.ErrAdapterInUse)
	}
	if n.closed {
		return errNodeClosed
	}
	if c.nodes[n.name] != nil {
		return fmt.Errorf("pubsubtest: the cluster already runs a node named %q", n.name)
	}
	if len(c.nodes) > 0 && host.Name() != c.psName {
		return fmt.Errorf("pubsubtest: node %q is of PubSub %q, and the cluster carries %q: use a Cluster per PubSub", n.name, host.Name(), c.psName)
	}
	c.psName = host.Name()
	c.nodes[n.name] = n
	n.host, n.started = host, true
	n.wake, n.done, n.stopped = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go n.run()
	return nil
}

func (n *clusterNode) NodeName() string { return n.name }

func (n *clusterNode) Broadcast(ctx context.Context, f pubsub.Frame) error {
	return n.c.send(ctx, n, "", false, f)
}

func (n *clusterNode) DirectBroadcast(ctx context.Context, node string, f pubsub.Frame) error {
	return n.c.send(ctx, n, node, true, f)
}

// sendable returns why n cannot send, if it cannot.
func (n *clusterNode) sendable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return errNodeClosed
	case !n.started:
		return errors.New("pubsubtest: cluster node not started")
	}
	return nil
}

// Close takes the node off the cluster, discards what is queued for it, and stops its delivery: once it
// returns, its Host is not called again.
func (n *clusterNode) Close() error {
	n.c.mu.Lock()
	if n.c.nodes[n.name] == n {
		delete(n.c.nodes, n.name)
	}
	n.c.mu.Unlock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	pending := n.queue
	n.queue = nil
	started := n.started
	n.mu.Unlock()
	if started {
		close(n.done)
		<-n.stopped
	}
	n.discard(pending)
	return nil
}

// discard counts frames that will never be delivered as lost, and answers their callers.
func (n *clusterNode) discard(items []item) {
	lost := 0
	for _, it := range items {
		if it.reply != nil {
			it.reply <- errNodeClosed
		} else if !it.gap {
			lost++
		}
	}
	if lost > 0 {
		n.c.mu.Lock()
		n.c.stats.Lost += uint64(lost)
		n.c.mu.Unlock()
	}
}

// enqueue queues it for delivery; frames for a closed node are lost. Called with the cluster locked for
// frames between nodes, so that they are queued in the order of the sends.
func (n *clusterNode) enqueue(it item) bool {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return false
	}
	n.queue = append(n.queue, it)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return true
}

// call queues it (first discarding the queue, if flush) and waits until it has been handled.
func (n *clusterNode) call(it item, flush bool) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errNodeClosed
	}
	var flushed []item
	if flush {
		flushed, n.queue = n.queue, nil
	}
	n.queue = append(n.queue, it)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	n.discard(flushed)
	return <-it.reply
}

// run hands queued items to the Host, one at a time, in order, until Close.
func (n *clusterNode) run() {
	defer close(n.stopped)
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.mu.Unlock()
			select {
			case <-n.wake:
				continue
			case <-n.done:
				return
			}
		}
		it := n.queue[0]
		n.queue[0] = item{}
		n.queue = n.queue[1:]
		n.mu.Unlock()
		select {
		case <-n.done:
			n.discard([]item{it})
			return
		default:
		}
		n.handle(it)
	}
}

func (n *clusterNode) handle(it item) {
	if it.gap {
		n.host.HandleGap(ErrDisrupted)
		it.reply <- nil
		return
	}
	err := n.host.HandleFrame(it.frame)
	if it.reply != nil {
		it.reply <- err
		return
	}
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	n.c.stats.Delivered++
	if err != nil && !errors.Is(err, pubsub.ErrClosed) {
		n.c.stats.Rejected++
		n.c.errs = append(n.c.errs, fmt.Errorf("node %s: %w", n.name, err))
	}
}
