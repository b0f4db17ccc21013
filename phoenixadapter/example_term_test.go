package phoenixadapter_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// ChatMessage is a payload as a Phoenix app broadcasts it, %{"user" => ..., "body" => ..., "meta" =>
// %{"n" => ...}}, as a Go struct: the json tags name the keys (an etf tag would win).
type ChatMessage struct {
	User string `json:"user"`
	Body string `json:"body"`
	Meta struct {
		N int `json:"n"`
	} `json:"meta"`
}

// With TermPayloads, a received message is decoded straight into a struct, without a
// map[string]any in between; a Go struct broadcast is the map with binary keys an Elixir node
// expects. Here a second Go node stands in for the Elixir node.
func ExampleTerm_Decode() {
	ctx := context.Background()
	redis, _ := miniredis.Run()
	defer redis.Close()
	join := func(node string, terms bool) *pubsub.PubSub {
		a, err := phoenixadapter.New(phoenixadapter.Config{
			URL: "redis://" + redis.Addr(), PubSubName: "MyApp.PubSub", NodeName: node, TermPayloads: terms,
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
	web, worker := join("web@10.0.0.5", false), join("worker@10.0.0.7", true)
	defer web.Close()
	defer worker.Close()

	sub, _ := worker.NewSubscriber()
	sub.Subscribe("room:lobby")
	var out ChatMessage
	out.User, out.Body, out.Meta.N = "alice", "hi", 1
	web.Broadcast(ctx, "room:lobby", out)

	msg, _ := sub.Receive(ctx)
	m, err := pubsub.As[ChatMessage](msg) // or msg.Decode(&m)
	fmt.Printf("%T %+v %v\n", msg.Payload, m, err)

	var wrong struct {
		Meta struct {
			N string `json:"n"`
		} `json:"meta"`
	}
	fmt.Println(msg.Decode(&wrong))
	// Output:
	// phoenixadapter.Term {User:alice Body:hi Meta:{N:1}} <nil>
	// etf: cannot unmarshal integer 1 into field meta.n of Go type string (at byte 41)
}
