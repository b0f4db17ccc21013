package notifier_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/phxgo/pubsub"
	notifier "github.com/phxgo/pubsub/examples/testing"
	"github.com/phxgo/pubsub/pubsubtest"
)

// The same test without Redis, on the in-memory cluster of package pubsubtest, in a synctest bubble:
// exact and instant, and with faults a real network would need to be broken for.
func TestShippedAcrossAPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		api := c.Node(t, "api", pubsub.Config{Name: "shop"})
		worker := c.Node(t, "worker", pubsub.Config{Name: "shop"})
		sub, err := worker.NewSubscriber()
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.Subscribe("customer:ada"); err != nil {
			t.Fatal(err)
		}
		n := notifier.Notifier{PS: api}
		ctx := context.Background()

		n.Shipped(ctx, 40, "ada")
		c.Partition([]string{"api"}, []string{"worker"}) // the network splits
		n.Shipped(ctx, 41, "ada")                        // lost
		c.Heal()
		n.Shipped(ctx, 42, "ada")
		synctest.Wait() // every frame sent has been handled

		for _, want := range []int{40, 42} {
			msg := <-sub.C()
			if got, err := pubsub.As[notifier.OrderShipped](msg); err != nil || got.OrderID != want {
				t.Fatalf("got %+v (%v), want order %d", got, err, want)
			}
		}
		if len(sub.C()) != 0 {
			t.Fatalf("%d more messages: the one sent during the split should be lost", len(sub.C()))
		}
	})
}
