package localadapter_test

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/localadapter"
	"github.com/phxgo/pubsub/pubsubtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	_ pubsub.Adapter   = (*localadapter.Adapter)(nil)
	_ pubsub.LocalOnly = (*localadapter.Adapter)(nil)
)

// TestConformance runs the conformance suite on the local adapter: one node, no cross-node checks.
func TestConformance(t *testing.T) {
	pubsubtest.Run(t, func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			cfg.Adapter = localadapter.New(fmt.Sprintf("local%d", i))
			ps, err := pubsub.New(context.Background(), cfg)
			if err != nil {
				closeAll(nodes[:i])
				t.Fatalf("New: %v", err)
			}
			nodes[i] = ps
		}
		return nodes
	}, pubsubtest.Features{Nodes: 1})
}

// closeAll closes the nodes a factory started before it failed (the suite closes those it returns).
func closeAll(nodes []*pubsub.PubSub) {
	for _, ps := range nodes {
		ps.Close()
	}
}

func TestStartTwice(t *testing.T) {
	a := localadapter.New("node")
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "first", Adapter: a})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer ps.Close()
	if second, err := pubsub.New(context.Background(), pubsub.Config{Name: "second", Adapter: a}); err == nil {
		second.Close()
		t.Fatal("a second PubSub started on the same adapter; want an error (an adapter serves one PubSub)")
	}
	if err := a.Start(context.Background(), nil); err == nil {
		t.Error("Start on a started adapter returned nil, want an error")
	}
}

func TestLocalOnly(t *testing.T) {
	if !localadapter.New("node").LocalOnly() {
		t.Error("LocalOnly() = false, want true")
	}
}

func TestNodeName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", pubsub.DefaultNodeName},
		{"node-a", "node-a"},
	} {
		a := localadapter.New(tc.name)
		if got := a.NodeName(); got != tc.want {
			t.Errorf("New(%q).NodeName() = %q, want %q", tc.name, got, tc.want)
		}
		ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "test", Adapter: a})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if got := ps.NodeName(); got != tc.want {
			t.Errorf("PubSub on New(%q): NodeName() = %q, want %q", tc.name, got, tc.want)
		}
		if err := ps.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestSendsNothing calls the adapter the way a PubSub never does (LocalOnly): it has nowhere to send.
func TestSendsNothing(t *testing.T) {
	a := localadapter.New("node")
	ctx := context.Background()
	if err := a.Broadcast(ctx, pubsub.Frame{Topic: "t", Bytes: []byte("frame")}); err != nil {
		t.Errorf("Broadcast: %v", err)
	}
	if err := a.DirectBroadcast(ctx, "other", pubsub.Frame{Topic: "t", Bytes: []byte("frame")}); err != nil {
		t.Errorf("DirectBroadcast: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// A PubSub on the local adapter: one node, named.
func ExampleNew() {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "chat", Adapter: localadapter.New("node-a")})
	if err != nil {
		panic(err)
	}
	defer ps.Close()

	sub, err := ps.NewSubscriber()
	if err != nil {
		panic(err)
	}
	if err := sub.Subscribe("room:lobby"); err != nil {
		panic(err)
	}
	if err := ps.Broadcast(context.Background(), "room:lobby", "hello"); err != nil {
		panic(err)
	}
	msg := <-sub.C()
	fmt.Println(ps.NodeName(), msg.Topic, msg.Payload)
	// Output: node-a room:lobby hello
}
