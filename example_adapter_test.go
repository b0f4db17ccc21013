package pubsub_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/phxgo/pubsub"
)

// pipeHub is the whole of a transport adapter: it moves the PubSub's frames between nodes of one
// process, in call order, and never looks inside them. Numbering, signing, replay checks and decoding
// are the PubSub's.
type pipeHub struct {
	mu    sync.Mutex
	hosts map[string]pubsub.Host
}

type pipeAdapter struct {
	hub  *pipeHub
	node string
}

func (a *pipeAdapter) Start(_ context.Context, h pubsub.Host) error {
	a.hub.mu.Lock()
	defer a.hub.mu.Unlock()
	a.hub.hosts[a.node] = h
	return nil
}

func (a *pipeAdapter) NodeName() string { return a.node }

func (a *pipeAdapter) Broadcast(_ context.Context, f pubsub.Frame) error {
	return a.send(f, func(node string) bool { return node != a.node })
}

func (a *pipeAdapter) DirectBroadcast(_ context.Context, node string, f pubsub.Frame) error {
	return a.send(f, func(n string) bool { return n == node })
}

// send delivers synchronously, under the hub's lock: in call order, and f.Bytes is copied (into a
// string) before the call returns.
func (a *pipeAdapter) send(f pubsub.Frame, to func(string) bool) error {
	a.hub.mu.Lock()
	defer a.hub.mu.Unlock()
	for node, h := range a.hub.hosts {
		if to(node) {
			h.HandleFrame(string(f.Bytes)) // the PubSub counts and logs what it drops
		}
	}
	return nil
}

func (a *pipeAdapter) Close() error {
	a.hub.mu.Lock()
	defer a.hub.mu.Unlock()
	delete(a.hub.hosts, a.node)
	return nil
}

// An adapter is a transport: this one carries frames between two PubSubs in one process.
func ExampleAdapter() {
	hub := &pipeHub{hosts: map[string]pubsub.Host{}}
	secrets := [][]byte{[]byte("a secret of at least 16 bytes, 32 is better")}
	a, err := pubsub.New(context.Background(), pubsub.Config{Name: "chat", Adapter: &pipeAdapter{hub, "a"}, Secrets: secrets})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := pubsub.New(context.Background(), pubsub.Config{Name: "chat", Adapter: &pipeAdapter{hub, "b"}, Secrets: secrets})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	sub, err := b.NewSubscriber()
	if err != nil {
		panic(err)
	}
	sub.Subscribe("room:lobby")
	if err := a.Broadcast(context.Background(), "room:lobby", "hello from a"); err != nil {
		panic(err)
	}
	msg := <-sub.C()
	fmt.Println(msg.Topic, msg.Payload)
	fmt.Println("received by b:", b.Stats().Received)
	// Output:
	// room:lobby hello from a
	// received by b: 1
}
