package pubsub_test

import (
	"context"
	"fmt"

	"github.com/phxgo/pubsub"
)

// UserUpdate is the payload of Phoenix.PubSub's getting-started example.
type UserUpdate struct {
	ID   int
	Name string
}

// Phoenix.PubSub's getting started, in Go: subscribe to "user:123", broadcast an update, receive it.
func Example() {
	ps, err := pubsub.New(pubsub.Config{Name: "my_pubsub"}) // one node, no adapter
	if err != nil {
		panic(err)
	}
	defer ps.Close()

	sub := ps.NewSubscriber()
	if err := sub.Subscribe("user:123"); err != nil {
		panic(err)
	}

	ctx := context.Background()
	if err := ps.Broadcast(ctx, "user:123", UserUpdate{ID: 123, Name: "Shane"}); err != nil {
		panic(err)
	}

	msg, err := sub.Receive(ctx) // or: msg := <-sub.C()
	if err != nil {
		panic(err)
	}
	var update UserUpdate
	if err := msg.Decode(&update); err != nil {
		panic(err)
	}
	fmt.Println(msg.Topic)
	fmt.Printf("%+v\n", update)
	// Output:
	// user:123
	// {ID:123 Name:Shane}
}
