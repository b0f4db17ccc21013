package notifier_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.uber.org/goleak"

	"github.com/phxgo/pubsub"
	notifier "github.com/phxgo/pubsub/examples/testing"
	"github.com/phxgo/pubsub/redisadapter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node starts a PubSub on the miniredis as one node of the cluster; it is closed when the test ends.
func node(t *testing.T, m *miniredis.Miniredis, name string) *pubsub.PubSub {
	t.Helper()
	a, err := redisadapter.New(redisadapter.Config{URL: "redis://" + m.Addr() + "/0", NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "shop", Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// The event broadcast on one node reaches a subscriber on another, as the Go type it was sent as.
func TestShippedReachesOtherNodes(t *testing.T) {
	m := miniredis.RunT(t) // an in-process Redis, stopped at the end of the test
	api, worker := node(t, m, "api"), node(t, m, "worker")

	sub, err := worker.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe("customer:ada"); err != nil {
		t.Fatal(err)
	}
	if err := (notifier.Notifier{PS: api}).Shipped(context.Background(), 42, "ada"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msg.Payload, (notifier.OrderShipped{OrderID: 42, Customer: "ada"}); got != want {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}
