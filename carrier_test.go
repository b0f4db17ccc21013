package pubsub_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/phxgo/pubsub"
)

// carrierHub connects adapters that carry messages themselves (pubsub.MessageCarrier), as the
// Phoenix adapter does: the PubSub hands them topic, dispatcher and payload, never bytes.
type carrierHub struct {
	mu    sync.Mutex
	hosts map[string]pubsub.Host
}

type carrier struct {
	hub  *carrierHub
	node string
	sent []pubsub.Frame
}

func (c *carrier) CarriesMessages() bool { return true }
func (c *carrier) NodeName() string      { return c.node }
func (c *carrier) Close() error          { return nil }
func (c *carrier) Start(_ context.Context, h pubsub.Host) error {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	c.hub.hosts[c.node] = h
	return nil
}

func (c *carrier) Broadcast(_ context.Context, f pubsub.Frame) error {
	return c.send("", f)
}

func (c *carrier) DirectBroadcast(_ context.Context, node string, f pubsub.Frame) error {
	return c.send(node, f)
}

// send hands the message to every host, the sender's own included (as one shared channel does), and
// lets the PubSubs sort out who keeps it.
func (c *carrier) send(target string, f pubsub.Frame) error {
	c.sent = append(c.sent, f)
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	for _, h := range c.hub.hosts {
		h.HandleMessage(pubsub.RemoteMessage{Origin: c.node, Target: target, Topic: f.Topic, Dispatcher: f.Dispatcher, Payload: f.Payload})
	}
	return nil
}

func TestMessageCarrier(t *testing.T) {
	hub := &carrierHub{hosts: map[string]pubsub.Host{}}
	ca, cb, cc := &carrier{hub: hub, node: "a"}, &carrier{hub: hub, node: "b"}, &carrier{hub: hub, node: "c"}
	a := newPS(t, pubsub.Config{Adapter: ca})
	b := newPS(t, pubsub.Config{Adapter: cb})
	c := newPS(t, pubsub.Config{Adapter: cc})
	sa, sb, sc := subscribe(t, a, "t"), subscribe(t, b, "t"), subscribe(t, c, "t")

	if err := a.Broadcast(ctx, "t", remoteUpdate{ID: 1}); err != nil {
		t.Fatal(err)
	}
	if f := ca.sent[0]; f.Bytes != nil || f.Topic != "t" || f.Payload != (remoteUpdate{ID: 1}) {
		t.Fatalf("a carrier was handed %+v, want the message and no bytes", f)
	}
	for _, s := range []*pubsub.Subscriber{sa, sb, sc} {
		if got := receive(t, s).Payload; got != (remoteUpdate{ID: 1}) {
			t.Fatalf("%v got %v", s, got)
		}
		assertEmpty(t, s) // once each: the sender skipped its own copy by node name
	}
	if err := a.DirectBroadcast(ctx, "b", "t", "to b"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sb).Payload; got != "to b" {
		t.Fatalf("b got %v", got)
	}
	assertEmpty(t, sa)
	assertEmpty(t, sc) // c dropped it: addressed to b
	if st := c.Stats(); st.DroppedMisaddressed != 1 || st.Received != 1 {
		t.Errorf("c's stats %+v, want one misaddressed drop and one message received", st)
	}

	// Hostile messages from the transport: the reserved topic, no topic, an unknown dispatcher.
	for _, m := range []pubsub.RemoteMessage{
		{Origin: "x", Topic: pubsub.GapTopic, Payload: "spoof"},
		{Origin: "x", Topic: ""},
		{Origin: "x", Topic: "t", Dispatcher: "nope"},
	} {
		if err := hub.hosts["b"].HandleMessage(m); err == nil {
			t.Errorf("HandleMessage(%+v) accepted", m)
		}
	}
	assertEmpty(t, sb)
	if st := b.Stats(); st.DroppedReserved != 1 || st.DroppedMalformed != 1 || st.DroppedDispatcher != 1 {
		t.Errorf("b's stats %+v", st)
	}
}

// A carrier's own format cannot be signed: New refuses Secrets with one, and closes it.
func TestMessageCarrierRefusesSecrets(t *testing.T) {
	c := &carrier{hub: &carrierHub{hosts: map[string]pubsub.Host{}}, node: "a"}
	_, err := pubsub.New(context.Background(), pubsub.Config{Name: "x", Adapter: c, Secrets: [][]byte{secret}})
	if !errors.Is(err, pubsub.ErrInvalidConfig) {
		t.Fatalf("New: %v, want ErrInvalidConfig", err)
	}
}
