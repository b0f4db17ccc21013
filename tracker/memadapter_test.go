package tracker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
)

// memHub is an in-memory cluster for the tracker's tests: every memNode on the hub is the adapter of one
// PubSub, and frames travel between them without a network. It works inside testing/synctest bubbles (make
// the hub and its nodes inside the bubble): each node delivers on a goroutine of its own that blocks only on
// channels, so synctest.Wait returns once every frame sent has been handled.
//
// Delivery is asynchronous and in order: a frame is queued for each receiver, under the hub's lock, in the
// order of the sends, and each receiver hands its queue to its PubSub one frame at a time. So frames of one
// origin arrive in the order they were sent, as the Adapter contract requires.
//
// Faults are injected per pair of nodes: partition cuts the hub into groups (frames between groups are
// dropped), block cuts one direction between two nodes, and drop (a filter on every frame) drops what a
// test chooses. Every dropped frame is counted. tap sees every frame sent, dropped or not (hubFrame.dropped), at send time.
type memHub struct {
	mu       sync.Mutex
	nodes    map[string]*memNode // live nodes by name
	group    map[string]int      // partition group by node name; absent: group 0
	drop     func(hubFrame) bool // drops the frames it returns true for
	tap      func(hubFrame)
	sent     int // frames queued for a receiver
	dropped  int // frames dropped by partitions, blocks and drop
	errs     []error
	maxFrame int // when set, larger sends fail, like redisadapter's MaxMessageSize (ErrTooLarge)
}

// errHubTooLarge is what a send over memHub.maxFrame returns.
var errHubTooLarge = errors.New("memhub: frame too large")

// hubFrame is one frame on its way from one node to another.
type hubFrame struct {
	from, to string
	frame    string
	dropped  bool // for tap: the frame was dropped
}

func newMemHub() *memHub {
	return &memHub{nodes: map[string]*memNode{}, group: map[string]int{}}
}

// memNode is one node's adapter on a memHub.
type memNode struct {
	hub  *memHub
	name string
	host pubsub.Host

	mu      sync.Mutex
	queue   []string
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	closed  bool
}

// adapter returns a new adapter for a node named name, for pubsub.Config.Adapter.
func (h *memHub) adapter(name string) *memNode {
	return &memNode{hub: h, name: name, wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
}

func (n *memNode) Start(_ context.Context, host pubsub.Host) error {
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	if _, dup := n.hub.nodes[n.name]; dup {
		return errors.New("memhub: a live node is already named " + n.name)
	}
	n.host = host
	n.hub.nodes[n.name] = n
	go n.run()
	return nil
}

func (n *memNode) NodeName() string { return n.name }

func (n *memNode) Broadcast(ctx context.Context, f pubsub.Frame) error {
	return n.hub.send(ctx, n.name, "", f.Bytes)
}

func (n *memNode) DirectBroadcast(ctx context.Context, node string, f pubsub.Frame) error {
	return n.hub.send(ctx, n.name, node, f.Bytes)
}

func (n *memNode) Close() error {
	n.hub.mu.Lock()
	if n.hub.nodes[n.name] == n {
		delete(n.hub.nodes, n.name)
	}
	n.hub.mu.Unlock()
	n.mu.Lock()
	n.closed = true
	n.queue = nil
	n.mu.Unlock()
	close(n.done)
	<-n.stopped
	return nil
}

// run hands queued frames to the PubSub, one at a time, in order.
func (n *memNode) run() {
	defer close(n.stopped)
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, f := range q {
			select {
			case <-n.done:
				return
			default:
			}
			if err := n.host.HandleFrame(f); err != nil && !errors.Is(err, pubsub.ErrClosed) {
				n.hub.mu.Lock()
				n.hub.errs = append(n.hub.errs, fmt.Errorf("node %s: %w", n.name, err))
				n.hub.mu.Unlock()
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-n.wake:
		case <-n.done:
			return
		}
	}
}

func (n *memNode) enqueue(frame string) {
	n.mu.Lock()
	if !n.closed {
		n.queue = append(n.queue, frame)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// send queues frame for every other node (to == "") or for the node named to.
func (h *memHub) send(ctx context.Context, from, to string, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := string(frame) // frame is only valid during the call
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxFrame > 0 && len(f) > h.maxFrame {
		return fmt.Errorf("%w: %d bytes, limit %d", errHubTooLarge, len(f), h.maxFrame)
	}
	names := make([]string, 0, len(h.nodes))
	for name := range h.nodes {
		if name != from && (to == "" || name == to) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		hf := hubFrame{from: from, to: name, frame: f}
		hf.dropped = h.group[from] != h.group[name] || (h.drop != nil && h.drop(hf))
		if h.tap != nil {
			h.tap(hf)
		}
		if hf.dropped {
			h.dropped++
			continue
		}
		h.sent++
		h.nodes[name].enqueue(f)
	}
	return nil
}

// partition cuts the hub into groups of node names: frames between nodes of different groups are dropped.
// Nodes not named are in a group of their own (group 0), with each other.
func (h *memHub) partition(groups ...[]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.group)
	for i, g := range groups {
		for _, name := range g {
			h.group[name] = i + 1
		}
	}
}

// heal ends every partition and block.
func (h *memHub) heal() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.group)
}

func (h *memHub) setDrop(f func(hubFrame) bool) {
	h.mu.Lock()
	h.drop = f
	h.mu.Unlock()
}

func (h *memHub) setTap(f func(hubFrame)) {
	h.mu.Lock()
	h.tap = f
	h.mu.Unlock()
}

func (h *memHub) counts() (sent, dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sent, h.dropped
}

// frameErrors returns what the receiving PubSubs returned for frames they rejected.
func (h *memHub) frameErrors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.errs)
}

// inject delivers a raw frame to the node named to, as if it came over the network from another node.
func (h *memHub) inject(to, frame string) {
	h.mu.Lock()
	n := h.nodes[to]
	h.mu.Unlock()
	if n != nil {
		n.enqueue(frame)
	}
}

// gossipOf decodes a frame carrying tracker gossip; ok is false for anything else.
func gossipOf(frame string) (g gossip, topic string, ok bool) {
	f, err := wire.Decode(frame, wire.Limits{MaxFrame: wire.MaxFrameLen})
	if err != nil || f.PayloadType != pubsub.TypeBytes {
		return gossip{}, "", false
	}
	g, err = decodeGossip([]byte(f.Payload))
	return g, f.Topic, err == nil
}

// isKind reports whether a hub frame is gossip of one of the kinds (any kind if none is given).
func (f hubFrame) isKind(kinds ...gossipKind) bool {
	g, _, ok := gossipOf(f.frame)
	return ok && (len(kinds) == 0 || slices.Contains(kinds, g.kind))
}

// hubNode is one node of a test cluster: a PubSub on the hub and a tracker on it.
type hubNode struct {
	name string
	ps   *pubsub.PubSub
	tr   *Tracker
	log  *diffLog
}

// start starts a PubSub named "tracker-test" on the hub as node name, with a tracker configured by cfg
// (its Handler is replaced by a diffLog unless cfg has one). Both are closed when the test ends.
func (h *memHub) start(t testing.TB, name string, cfg Config) *hubNode {
	t.Helper()
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "tracker-test", Adapter: h.adapter(name)})
	if err != nil {
		t.Fatal(err)
	}
	n := &hubNode{name: name, ps: ps, log: &diffLog{}}
	if cfg.Handler == nil {
		cfg.Handler = n.log
	}
	if n.tr, err = New(ps, cfg); err != nil {
		ps.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.crash() })
	return n
}

// crash stops the node like a crash: its tracker closes without a word, and its PubSub leaves the hub.
func (n *hubNode) crash() {
	n.tr.Close()
	n.ps.Close()
}

// owner returns a new owner on the node, closed at the end of the test with the node.
func (n *hubNode) owner() *pubsub.Subscriber { return n.ps.NewSubscriber() }

// diffLog is a Handler that keeps every diff with the (possibly fake) time it was handled.
type diffLog struct {
	mu    sync.Mutex
	diffs []loggedDiff
}

type loggedDiff struct {
	at   time.Time
	diff map[string]Diff
}

func (l *diffLog) HandleDiff(d map[string]Diff) {
	l.mu.Lock()
	l.diffs = append(l.diffs, loggedDiff{at: time.Now(), diff: d})
	l.mu.Unlock()
}

func (l *diffLog) all() []loggedDiff {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.diffs)
}

// events flattens the log into "+topic/key@replica" and "-topic/key@replica" strings, in order (leaves of a
// diff before its joins, each sorted).
func (l *diffLog) events() []string {
	var out []string
	for _, d := range l.all() {
		out = append(out, diffEvents(d.diff)...)
	}
	return out
}

func diffEvents(d map[string]Diff) []string {
	var leaves, joins []string
	for topic, td := range d {
		for _, p := range td.Leaves {
			leaves = append(leaves, "-"+topic+"/"+p.Key+"@"+p.Replica)
		}
		for _, p := range td.Joins {
			joins = append(joins, "+"+topic+"/"+p.Key+"@"+p.Replica)
		}
	}
	slices.Sort(leaves)
	slices.Sort(joins)
	return append(leaves, joins...)
}

// presenceKeys returns "key@replica" of each presence, sorted.
func presenceKeys(ps []Presence) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Key+"@"+p.Replica)
	}
	slices.Sort(out)
	return out
}
