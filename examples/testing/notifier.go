// Package notifier shows how to test code that uses pubsub with the Redis adapter, the way your own
// tests can: an in-process miniredis, two PubSubs as two nodes, and no Redis to install.
package notifier

import (
	"context"

	"github.com/phxgo/pubsub"
)

// OrderShipped is what the notifier broadcasts.
type OrderShipped struct {
	OrderID  int
	Customer string
}

func init() { pubsub.MustRegisterType[OrderShipped]("notifier.order_shipped") }

// Notifier tells every node that an order shipped.
type Notifier struct{ PS *pubsub.PubSub }

// Shipped broadcasts the event on the customer's topic.
func (n Notifier) Shipped(ctx context.Context, orderID int, customer string) error {
	return n.PS.Broadcast(ctx, "customer:"+customer, OrderShipped{OrderID: orderID, Customer: customer})
}
