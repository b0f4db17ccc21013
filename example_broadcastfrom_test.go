package pubsub_test

import (
	"context"
	"fmt"

	"github.com/phxgo/pubsub"
)

// BroadcastFrom skips the sender's own subscriptions: a chat member does not hear its own message.
func ExamplePubSub_BroadcastFrom() {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "chat"})
	if err != nil {
		panic(err)
	}
	defer ps.Close()

	alice, err := ps.NewSubscriber()
	if err != nil {
		panic(err)
	}
	bob, err := ps.NewSubscriber()
	if err != nil {
		panic(err)
	}
	for _, s := range []*pubsub.Subscriber{alice, bob} {
		if err := s.Subscribe("room:lobby"); err != nil {
			panic(err)
		}
	}

	if err := ps.BroadcastFrom(context.Background(), alice, "room:lobby", "hi, it's alice"); err != nil {
		panic(err)
	}

	// Local delivery is complete when BroadcastFrom returns, so an empty mailbox means nothing came.
	for _, m := range []struct {
		name string
		sub  *pubsub.Subscriber
	}{{"alice", alice}, {"bob", bob}} {
		select {
		case msg := <-m.sub.C():
			fmt.Printf("%s received %q\n", m.name, msg.Payload)
		default:
			fmt.Printf("%s received nothing\n", m.name)
		}
	}
	// Output:
	// alice received nothing
	// bob received "hi, it's alice"
}
