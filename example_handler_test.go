package pubsub_test

import (
	"context"
	"fmt"
	"log"

	"github.com/phxgo/pubsub"
)

// A subscriber with a handler needs no goroutine of its own reading C: the handler is called for each
// message, one at a time and in order, on a goroutine that exists only while messages wait (nats.go's
// Subscribe(subject, handler)).
func ExampleWithHandler() {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()

	got := make(chan string, 3)
	sub, err := ps.NewSubscriber(pubsub.WithHandler(func(msg pubsub.Message) {
		got <- fmt.Sprintf("%s: %v", msg.Topic, msg.Payload) // a websocket write, say
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe("room:lobby"); err != nil {
		log.Fatal(err)
	}
	for _, text := range []string{"hello", "how are you?", "bye"} {
		if err := ps.LocalBroadcast("room:lobby", text); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 {
		fmt.Println(<-got)
	}
	// Output:
	// room:lobby: hello
	// room:lobby: how are you?
	// room:lobby: bye
}

// TryReceive drains what a mailbox holds without waiting. (A select on C with a default case would
// stop early: C holds only the first few messages, and the rest move in as it is read.)
func ExampleSubscriber_TryReceive() {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	sub, err := ps.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	if err := sub.Subscribe("ticks"); err != nil {
		log.Fatal(err)
	}
	for i := range 10 {
		ps.LocalBroadcast("ticks", i)
	}
	fmt.Println("queued:", sub.Len(), "of", sub.Cap())
	sum := 0
	for msg, ok := sub.TryReceive(); ok; msg, ok = sub.TryReceive() {
		sum += msg.Payload.(int)
	}
	fmt.Println("sum:", sum, "queued:", sub.Len())
	// Output:
	// queued: 10 of 256
	// sum: 45 queued: 0
}
