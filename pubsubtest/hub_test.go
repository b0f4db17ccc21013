package pubsubtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// hub is an in-memory network of hubNodes: a multi-node adapter for testing the suite's cross-node
// checks without a server. Each node has an unbounded inbox drained by one goroutine, so frames from
// one origin arrive in order and never overlap, as the Adapter contract requires. A hub can be made
// faulty (see hubFault), to show that the suite catches adapters that break the contract.
type hub struct {
	fault   hubFault
	carrier bool // the nodes carry messages (pubsub.MessageCarrier) rather than frames
	mu      sync.Mutex
	nodes   map[string]*hubNode
}

// hubFault is a way for a hub to break the Adapter contract.
type hubFault string

const (
	faultNone      hubFault = ""
	faultDuplicate hubFault = "duplicate" // every frame arrives twice
	faultReorder   hubFault = "reorder"   // frames of one origin arrive in swapped pairs
	faultDrop      hubFault = "drop"      // every 97th frame to a node is lost
	faultSilent    hubFault = "silent"    // Broadcast sends nothing
	faultCloseAll  hubFault = "closeall"  // closing one node stops delivery to all
	faultSelfOnly  hubFault = "selfonly"  // every frame goes back to its sender only
	faultKeepBytes hubFault = "keepbytes" // frames are read from the caller's buffer after the call returns
	faultCloseLate hubFault = "closelate" // Close returns at once; delivery stops 200 ms later
)

func newHub(fault hubFault) *hub { return &hub{fault: fault, nodes: map[string]*hubNode{}} }

type hubNode struct {
	hub  *hub
	name string
	host pubsub.Host

	mu       sync.Mutex
	started  bool
	closed   bool
	inbox    []any            // frames (string) or carried messages (pubsub.RemoteMessage)
	received int              // frames enqueued, for faultDrop
	held     map[*hubNode]any // per origin, for faultReorder
	wake     chan struct{}
	done     chan struct{}
	stopped  chan struct{}
}

func (h *hub) node(name string) *hubNode {
	return &hubNode{
		hub: h, name: name, held: map[*hubNode]any{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
	}
}

func (n *hubNode) Start(_ context.Context, host pubsub.Host) error {
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	if _, dup := n.hub.nodes[n.name]; dup {
		return fmt.Errorf("hub: node %q: %w", n.name, pubsub.ErrAdapterInUse)
	}
	n.host = host
	n.hub.nodes[n.name] = n
	n.mu.Lock()
	n.started = true
	n.mu.Unlock()
	go n.run()
	return nil
}

func (n *hubNode) NodeName() string { return n.name }

// CarriesMessages implements pubsub.MessageCarrier.
func (n *hubNode) CarriesMessages() bool { return n.hub.carrier }

var errHubClosed = fmt.Errorf("hub: node closed: %w", pubsub.ErrClosed)

// item returns what fr becomes in a receiver's inbox: a frame, or (for a carrier) a message, with a
// copy of a []byte payload, which is valid only until the call returns.
func (n *hubNode) item(fr pubsub.Frame, target string) any {
	if !n.hub.carrier {
		return string(fr.Bytes)
	}
	m := pubsub.RemoteMessage{Origin: n.name, Target: target, Topic: fr.Topic, Dispatcher: fr.Dispatcher, Payload: fr.Payload}
	if b, ok := fr.Payload.([]byte); ok {
		m.Payload = append([]byte(nil), b...)
	}
	return m
}

// check returns the error of a send on a closed node, or ctx's.
func (n *hubNode) check(ctx context.Context) error {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return errHubClosed
	}
	return ctx.Err()
}

func (n *hubNode) Broadcast(ctx context.Context, fr pubsub.Frame) error {
	if err := n.check(ctx); err != nil {
		return err
	}
	switch n.hub.fault {
	case faultSilent:
		return nil
	case faultSelfOnly:
		n.enqueue(n, n.item(fr, ""))
		return nil
	case faultKeepBytes:
		go func() {
			time.Sleep(time.Millisecond)
			n.hub.mu.Lock()
			defer n.hub.mu.Unlock()
			for _, to := range n.hub.nodes {
				if to != n {
					to.enqueue(n, n.item(fr, ""))
				}
			}
		}()
		return nil
	}
	f := n.item(fr, "")
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	for _, to := range n.hub.nodes {
		if to != n {
			to.enqueue(n, f)
		}
	}
	return nil
}

func (n *hubNode) DirectBroadcast(ctx context.Context, node string, fr pubsub.Frame) error {
	if err := n.check(ctx); err != nil {
		return err
	}
	if n.hub.fault == faultSelfOnly {
		n.enqueue(n, n.item(fr, node))
		return nil
	}
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	if to, ok := n.hub.nodes[node]; ok {
		to.enqueue(n, n.item(fr, node))
	}
	return nil
}

func (n *hubNode) Close() error {
	n.mu.Lock()
	started := n.started
	n.closed = true
	n.mu.Unlock()
	if !started {
		return nil
	}
	if n.hub.fault == faultCloseLate {
		go func() {
			time.Sleep(200 * time.Millisecond)
			n.stop()
		}()
		return nil
	}
	n.stop()
	return nil
}

// stop removes n from its hub and stops its delivery goroutine.
func (n *hubNode) stop() {
	n.hub.mu.Lock()
	delete(n.hub.nodes, n.name)
	if n.hub.fault == faultCloseAll {
		clear(n.hub.nodes)
	}
	n.hub.mu.Unlock()
	close(n.done)
	<-n.stopped
}

// disrupt loses every frame queued for n and reports the loss to n's host, as a transport that lost
// its connection and made a new one would.
func (n *hubNode) disrupt() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started || n.closed {
		return
	}
	n.inbox = nil
	n.host.HandleGap(errors.New("hub: disrupted"))
}

// enqueue queues frame, sent by from, for delivery to n (applying the hub's fault). Called with the
// hub's lock held, so frames of one origin are queued in the order they were sent.
func (n *hubNode) enqueue(from *hubNode, frame any) {
	n.mu.Lock()
	n.received++
	switch n.hub.fault {
	case faultDuplicate:
		n.inbox = append(n.inbox, frame, frame)
	case faultDrop:
		if n.received%97 != 0 {
			n.inbox = append(n.inbox, frame)
		}
	case faultReorder:
		if held, ok := n.held[from]; ok {
			n.inbox = append(n.inbox, frame, held)
			delete(n.held, from)
		} else {
			n.held[from] = frame
		}
	default:
		n.inbox = append(n.inbox, frame)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *hubNode) run() {
	defer close(n.stopped)
	for {
		select {
		case <-n.wake:
		case <-n.done:
			return
		}
		n.mu.Lock()
		frames := n.inbox
		n.inbox = nil
		n.mu.Unlock()
		for _, f := range frames {
			select {
			case <-n.done:
				return
			default:
			}
			switch f := f.(type) {
			case string:
				n.host.HandleFrame(f)
			case pubsub.RemoteMessage:
				n.host.HandleMessage(f)
			}
		}
	}
}

// hubFactory returns a Factory that starts each cluster on a new hub with the given fault.
func hubFactory(fault hubFault) pubsubtest.Factory {
	return func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		h := newHub(fault)
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			cfg.Adapter = h.node(fmt.Sprintf("hub%d", i))
			ps, err := pubsub.New(context.Background(), cfg)
			if err != nil {
				closeAll(nodes[:i])
				t.Fatalf("New: %v", err)
			}
			nodes[i] = ps
		}
		return nodes
	}
}

// TestHub runs the whole suite, cross-node checks included, on the in-memory hub adapter.
func TestHub(t *testing.T) {
	pubsubtest.Run(t, hubFactory(faultNone), pubsubtest.Features{Nodes: 3})
}
