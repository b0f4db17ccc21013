package pubsub_test

import (
	"context"
	"fmt"
	"log"

	"github.com/phxgo/pubsub"
)

// UserUpdate is the payload of Phoenix.PubSub's getting-started example.
type UserUpdate struct {
	ID   int
	Name string
}

// Phoenix.PubSub's getting started, in Go: subscribe to "user:123", broadcast an update, receive it.
// This is the README's quickstart, word for word (TestReadmeQuickstartIsExample holds them together).
func Example() {
	ctx := context.Background()
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "my_pubsub"}) // one node; see redisadapter for a cluster
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()

	sub, err := ps.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	if err := sub.Subscribe("user:123"); err != nil {
		log.Fatal(err)
	}
	if err := ps.Broadcast(ctx, "user:123", UserUpdate{ID: 123, Name: "Shane"}); err != nil {
		log.Fatal(err)
	}

	msg, err := sub.Receive(ctx) // or: msg := <-sub.C()
	if err != nil {
		log.Fatal(err)
	}
	// From another node, an unregistered type arrives encoded: As decodes it wherever it came from
	// (or register the type on every node with pubsub.RegisterType, and it arrives as itself).
	update, err := pubsub.As[UserUpdate](msg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.Topic, update.Name)
	// Output:
	// user:123 Shane
}
