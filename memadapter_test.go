package pubsub_test

import (
	"context"
	"errors"
	"sync"

	"github.com/phxgo/pubsub"
)

// memBus is an in-memory cluster for tests: memAdapters on one bus deliver each other's frames
// synchronously, in order. It exercises the remote path (encode, frame, decode) without Redis.
type memBus struct {
	mu    sync.Mutex
	nodes map[string]*memAdapter
	fail  error // returned by every send while set
}

func newMemBus() *memBus { return &memBus{nodes: map[string]*memAdapter{}} }

type memAdapter struct {
	bus  *memBus
	name string
	host pubsub.Host
	mu   sync.Mutex // serialises deliveries to this node, as the Adapter contract requires per origin
}

func (b *memBus) adapter(name string) *memAdapter { return &memAdapter{bus: b, name: name} }

func (a *memAdapter) Start(_ context.Context, h pubsub.Host) error {
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	if _, dup := a.bus.nodes[a.name]; dup {
		return errors.New("memadapter: duplicate node name " + a.name)
	}
	a.host = h
	a.bus.nodes[a.name] = a
	return nil
}

func (a *memAdapter) NodeName() string { return a.name }

func (a *memAdapter) Broadcast(_ context.Context, f pubsub.Frame) error {
	return a.send(f.Bytes, func(n *memAdapter) bool { return n != a })
}

func (a *memAdapter) DirectBroadcast(_ context.Context, node string, f pubsub.Frame) error {
	return a.send(f.Bytes, func(n *memAdapter) bool { return n.name == node })
}

func (a *memAdapter) send(frame []byte, to func(*memAdapter) bool) error {
	a.bus.mu.Lock()
	if err := a.bus.fail; err != nil {
		a.bus.mu.Unlock()
		return err
	}
	var targets []*memAdapter
	for _, n := range a.bus.nodes {
		if to(n) {
			targets = append(targets, n)
		}
	}
	a.bus.mu.Unlock()
	for _, n := range targets {
		n.deliver(string(frame))
	}
	return nil
}

func (a *memAdapter) deliver(frame string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.host.HandleFrame(frame) // tests that care call HandleFrame themselves
}

func (a *memAdapter) Close() error {
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	delete(a.bus.nodes, a.name)
	return nil
}
