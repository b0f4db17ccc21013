package pubsubtest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// Two nodes of one PubSub in one process, without Redis: a message crosses from a to b, a partition
// loses the next one, and after Heal they talk again. In a test, c.Node(t, "a", cfg) starts a node and
// closes it when the test ends.
func ExampleNewCluster() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := pubsubtest.NewCluster()
	a, err := pubsub.New(ctx, pubsub.Config{Name: "chat", Adapter: c.Adapter("a")})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := pubsub.New(ctx, pubsub.Config{Name: "chat", Adapter: c.Adapter("b")})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	sub, err := b.NewSubscriber()
	if err != nil {
		panic(err)
	}
	if err := sub.Subscribe("room:1"); err != nil {
		log.Fatal(err)
	}

	a.Broadcast(ctx, "room:1", "hello")
	c.Partition([]string{"a"}, []string{"b"})
	a.Broadcast(ctx, "room:1", "lost in the partition")
	c.Heal()
	a.Broadcast(ctx, "room:1", "back")

	for range 2 {
		msg, err := sub.Receive(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("b received:", msg.Payload)
	}
	fmt.Println("frames dropped:", c.Stats().Dropped)
	// Output:
	// b received: hello
	// b received: back
	// frames dropped: 1
}
