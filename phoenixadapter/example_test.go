package phoenixadapter_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// A Go node joins the Phoenix application's PubSub "MyApp.PubSub" and pushes a "new_msg" event to the
// channel "room:lobby", as MyAppWeb.Endpoint.broadcast/3 does. Here a second Go node stands in for the
// Elixir node; with a real one, the browsers joined to "room:lobby" receive the event.
func Example() {
	ctx := context.Background()
	redis, _ := miniredis.Run() // a real deployment uses the Redis of Phoenix.PubSub.Redis
	defer redis.Close()

	join := func(node string) *pubsub.PubSub {
		a, err := phoenixadapter.New(phoenixadapter.Config{
			URL:        "redis://" + redis.Addr(),
			PubSubName: "MyApp.PubSub", // the channel is phx:Elixir.MyApp.PubSub.Adapter
			NodeName:   node,
		})
		if err != nil {
			panic(err)
		}
		ps, err := pubsub.New(ctx, pubsub.Config{Name: "MyApp.PubSub", Adapter: a})
		if err != nil {
			panic(err)
		}
		return ps
	}
	worker, web := join("worker@10.0.0.7"), join("web@10.0.0.5")
	defer worker.Close()
	defer web.Close()

	sub, _ := web.NewSubscriber()
	sub.Subscribe("room:lobby")
	worker.Broadcast(ctx, "room:lobby", phoenixadapter.SocketBroadcast{
		Topic: "room:lobby", Event: "new_msg", Payload: map[string]any{"body": "hi", "n": 1},
	})
	msg, _ := sub.Receive(ctx)
	b := msg.Payload.(phoenixadapter.SocketBroadcast)
	fmt.Printf("%s %s %v\n", b.Topic, b.Event, b.Payload)
	// Output: room:lobby new_msg map[body:hi n:1]
}

// DecodeFrame reads one message of a Phoenix PubSub's Redis channel, as operator tools do.
func ExampleDecodeFrame() {
	// Phoenix.PubSub.broadcast(MyApp.PubSub, "room:lobby", "hello") on node a@127.0.0.1 (OTP 26).
	frame := "\x83h\x06a\x03w\x06exceptw\x0ba@127.0.0.1m\x00\x00\x00\x0aroom:lobbym\x00\x00\x00\x05hellow\x15Elixir.Phoenix.PubSub"
	f, err := phoenixadapter.DecodeFrame(frame, 0)
	fmt.Printf("%+v %v\n", f, err)
	// Output: {Direct:false Node:a@127.0.0.1 NodeIsAtom:true Topic:room:lobby Payload:hello Dispatcher:Elixir.Phoenix.PubSub} <nil>
}
