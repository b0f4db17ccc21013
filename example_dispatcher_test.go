package pubsub_test

import (
	"context"
	"fmt"

	"github.com/phxgo/pubsub"
)

// A custom dispatcher decides who gets a broadcast from each subscription's metadata: here only the
// subscriptions made with the metadata "admin". Package dispatch has ready-made ones, such as the
// fastlane.
func ExampleDispatcher() {
	adminsOnly := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
		for _, e := range entries {
			if e.Metadata == "admin" && e.Subscriber != from {
				e.Subscriber.Deliver(msg) // never blocks
			}
		}
	})
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name:        "app",
		Dispatchers: map[string]pubsub.Dispatcher{"admins_only": adminsOnly}, // the same on every node
	})
	if err != nil {
		panic(err)
	}
	defer ps.Close()

	admin, err := ps.NewSubscriber()
	if err != nil {
		panic(err)
	}
	guest, err := ps.NewSubscriber()
	if err != nil {
		panic(err)
	}
	if err := admin.Subscribe("room:ops", pubsub.WithMetadata("admin")); err != nil {
		panic(err)
	}
	if err := guest.Subscribe("room:ops"); err != nil { // metadata nil
		panic(err)
	}

	ctx := context.Background()
	if err := ps.Broadcast(ctx, "room:ops", "deploy starts", pubsub.WithDispatcher("admins_only")); err != nil {
		panic(err)
	}
	if err := ps.Broadcast(ctx, "room:ops", "deploy done"); err != nil { // the default dispatcher
		panic(err)
	}

	show := func(name string, s *pubsub.Subscriber) {
		for {
			select {
			case msg := <-s.C():
				fmt.Printf("%s: %s\n", name, msg.Payload)
			default:
				return
			}
		}
	}
	show("admin", admin)
	show("guest", guest)
	// Output:
	// admin: deploy starts
	// admin: deploy done
	// guest: deploy done
}
