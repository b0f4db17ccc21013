package pubsub_test

import (
	"context"
	"fmt"
	"log"

	"github.com/phxgo/pubsub"
)

// SubscribeContext is Phoenix's channel join: subscribe, then read the state, then receive. With an
// adapter that routes by topic (redisadapter.Config.RouteByTopic) it waits until broadcasts of other
// nodes on the topic reach this node; otherwise it returns at once.
func ExampleSubscriber_SubscribeContext() {
	ctx := context.Background()
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "chat"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	sub, err := ps.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	if err := sub.SubscribeContext(ctx, "room:1"); err != nil {
		log.Fatal(err)
	}
	// … read the room's state here: nothing broadcast from now on is missed …
	if err := ps.Broadcast(ctx, "room:1", "joined"); err != nil {
		log.Fatal(err)
	}
	msg := <-sub.C()
	fmt.Println(msg.Payload)
	// Output: joined
}
