package tracker

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
	"github.com/phxgo/pubsub/pubsubtest"
)

// gossipOf decodes a frame carrying tracker gossip; ok is false for anything else.
func gossipOf(frame string) (g gossip, topic string, ok bool) {
	f, err := wire.Decode(frame, wire.Limits{MaxFrame: wire.MaxFrameLen})
	if err != nil || f.PayloadType != wire.TypeBytes {
		return gossip{}, "", false
	}
	g, err = decodeGossip([]byte(f.Payload))
	return g, f.Topic, err == nil
}

// isKind reports whether a cluster's frame is gossip of one of the kinds (any kind if none is given).
func isKind(f pubsubtest.Frame, kinds ...gossipKind) bool {
	g, _, ok := gossipOf(string(f.Bytes))
	return ok && (len(kinds) == 0 || slices.Contains(kinds, g.kind))
}

// The tracker's tests run their nodes on a pubsubtest.Cluster (in synctest bubbles, mostly): frames
// travel between the nodes' PubSubs asynchronously and in order, synctest.Wait returns once every frame
// sent has been handled, and faults (partitions, drop filters) and taps are the Cluster's.

// hubNode is one node of a test cluster: a PubSub on the cluster and a tracker on it.
type hubNode struct {
	name string
	ps   *pubsub.PubSub
	tr   *Tracker
	log  *diffLog
}

// start starts a PubSub named "tracker-test" on the cluster as node name, with a tracker configured by
// cfg (its Handler is replaced by a diffLog unless cfg has one). Both are closed when the test ends.
func start(t testing.TB, h *pubsubtest.Cluster, name string, cfg Config) *hubNode {
	t.Helper()
	ps := h.Node(t, name, pubsub.Config{Name: "tracker-test"})
	n := &hubNode{name: name, ps: ps, log: &diffLog{}}
	if cfg.Handler == nil {
		cfg.Handler = n.log
	}
	var err error
	if n.tr, err = New(ps, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.crash() })
	return n
}

// crash stops the node like a crash: its tracker closes without a word, and its PubSub leaves the cluster.
func (n *hubNode) crash() {
	n.tr.Close()
	n.ps.Close()
}

// owner returns a new owner on the node, closed at the end of the test with the node.
func (n *hubNode) owner() *pubsub.Subscriber {
	s, err := n.ps.NewSubscriber()
	if err != nil {
		panic(err) // the node's PubSub is open while the test uses it
	}
	return s
}

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

// newSub returns a new subscriber of ps, or fails the test.
func newSub(t testing.TB, ps *pubsub.PubSub, opts ...pubsub.MailboxOption) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber(opts...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	return s
}
