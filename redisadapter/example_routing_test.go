package redisadapter_test

import (
	"context"
	"fmt"
	"log"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// Routing by topic: node b subscribes to one Redis channel per bucket of the topics its subscribers
// hold, so it receives those buckets' broadcasts only. SubscribeContext returns once Redis has
// confirmed the bucket: a broadcast made after it returns reaches the subscriber.
func ExampleConfig_routeByTopic() {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	node := func(name string) (*pubsub.PubSub, *redisadapter.Adapter) {
		a, err := redisadapter.New(redisadapter.Config{URL: "redis://" + m.Addr() + "/0", NodeName: name, RouteByTopic: true})
		if err != nil {
			log.Fatal(err)
		}
		ps, err := pubsub.New(ctx, pubsub.Config{Name: "chat", Adapter: a})
		if err != nil {
			log.Fatal(err)
		}
		return ps, a
	}
	a, _ := node("a")
	b, bAdapter := node("b")
	defer a.Close()
	defer b.Close()

	sub, err := b.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	if err := sub.SubscribeContext(ctx, "room:lobby"); err != nil { // subscribe, then read the room's state, then receive
		log.Fatal(err)
	}
	if err := a.Broadcast(ctx, "room:other", "not for b"); err != nil {
		log.Fatal(err)
	}
	if err := a.Broadcast(ctx, "room:lobby", "hello from a"); err != nil {
		log.Fatal(err)
	}
	msg, err := sub.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.Payload, "on", msg.Topic)
	fmt.Println("buckets subscribed:", bAdapter.Routing().Effective)
	// Output:
	// hello from a on room:lobby
	// buckets subscribed: 1
}
