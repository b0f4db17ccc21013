package redisadapter_test

import (
	"context"
	"fmt"
	"log"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// Two nodes of one PubSub through one Redis (here an in-process miniredis; in production, the URL of
// your Redis): a broadcast on node a reaches a subscriber on node b.
func Example() {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	url := "redis://" + m.Addr() + "/0"
	ctx := context.Background()

	node := func(name string) *pubsub.PubSub {
		a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: name})
		if err != nil {
			log.Fatal(err)
		}
		ps, err := pubsub.New(ctx, pubsub.Config{Name: "chat", Adapter: a}) // connects, or fails
		if err != nil {
			log.Fatal(err)
		}
		return ps
	}
	a, b := node("a"), node("b")
	defer a.Close()
	defer b.Close()

	sub, err := b.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	if err := sub.Subscribe("room:lobby"); err != nil {
		log.Fatal(err)
	}
	if err := a.Broadcast(ctx, "room:lobby", "hello from a"); err != nil {
		log.Fatal(err)
	}
	msg, err := sub.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.NodeName(), "received", msg.Payload, "on", msg.Topic)
	// Output:
	// b received hello from a on room:lobby
}
