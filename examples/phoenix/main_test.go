package main

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.uber.org/goleak"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/phoenixpresence"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The worker on one side, a stand-in for the Elixir node (another phoenixadapter node) on the other.
func TestWorker(t *testing.T) {
	m := miniredis.RunT(t)
	url := "redis://" + m.Addr()
	ctx, cancel := context.WithCancel(t.Context())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- run(ctx, phoenixadapter.Config{URL: url, PubSubName: "MyApp.PubSub", NodeName: "go-worker@127.0.0.1"}, "MyApp.Presence", ready)
	}()
	defer func() {
		cancel()
		<-done
	}()
	<-ready

	a, err := phoenixadapter.New(phoenixadapter.Config{URL: url, PubSubName: "MyApp.PubSub", NodeName: "elixir@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	elixir, err := pubsub.New(t.Context(), pubsub.Config{Name: "MyApp.PubSub", Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	defer elixir.Close()
	// The stand-in's replica of MyApp.Presence lists the worker, and its jobs.
	presence, err := phoenixpresence.New(elixir, a, phoenixpresence.Config{Name: "MyApp.Presence", BroadcastPeriod: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer presence.Close()
	worker := func() map[string]any {
		if l := presence.GetByKey("workers", "go-worker@127.0.0.1"); len(l) == 1 {
			return l[0].Meta
		}
		return nil
	}
	await := func(what string, ok func(map[string]any) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(worker()); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the worker's presence is %v", what, worker())
			}
		}
	}
	await("listed", func(m map[string]any) bool { return m["status"] == "idle" })
	sub, _ := elixir.NewSubscriber()
	sub.Subscribe("room:lobby")
	sub.Subscribe("replies")
	if err := elixir.Broadcast(t.Context(), "jobs", map[string]any{"id": 7, "task": "resize", "from": "elixir@127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	want := []any{
		phoenixadapter.SocketBroadcast{Topic: "room:lobby", Event: "job_done", Payload: map[string]any{"id": int64(7), "task": "resize", "by": "go-worker@127.0.0.1"}},
		map[string]any{"id": int64(7), "status": "done"},
	}
	for _, w := range want {
		rctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		msg, err := sub.Receive(rctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(msg.Payload, w) {
			t.Errorf("got %#v, want %#v", msg.Payload, w)
		}
	}
	await("one job done", func(m map[string]any) bool { return m["jobs"] == int64(1) })
	cancel()
	<-done
	done <- nil // for the deferred receive
	await("left at once", func(m map[string]any) bool { return m == nil })
}
