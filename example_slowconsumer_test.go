package pubsub_test

import (
	"context"
	"fmt"

	"github.com/phxgo/pubsub"
)

// A broadcaster never waits for a slow subscriber: a full mailbox drops, counts the drop, and the PubSub
// reports the slow consumer once per episode, from its own goroutine.
func ExampleSlowConsumer() {
	reports := make(chan pubsub.SlowConsumer, 10)
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name:           "app",
		OnSlowConsumer: func(e pubsub.SlowConsumer) { reports <- e }, // must not block for long
	})
	if err != nil {
		panic(err)
	}

	slow, err := ps.NewSubscriber(pubsub.WithMailboxSize(2)) // and it never reads
	if err != nil {
		panic(err)
	}
	if err := slow.Subscribe("ticks"); err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := range 5 {
		if err := ps.Broadcast(ctx, "ticks", i); err != nil {
			panic(err)
		}
	}
	fmt.Println("dropped:", slow.Dropped())

	e := <-reports
	fmt.Println("slow consumer reported, mailbox size", e.MailboxSize)

	ps.Close() // stops the reporter: any further report would be in reports by now
	fmt.Println("more reports:", len(reports))
	for msg := range slow.C() { // the mailbox kept the first two
		fmt.Println("queued:", msg.Payload)
	}
	// Output:
	// dropped: 3
	// slow consumer reported, mailbox size 2
	// more reports: 0
	// queued: 0
	// queued: 1
}
