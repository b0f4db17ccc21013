// Package pubsub is Phoenix.PubSub for Go: realtime publish/subscribe within one process or across a
// cluster of nodes that share an adapter (Redis, see package redisadapter).
//
// A PubSub has subscribers, the Go stand-in for Elixir processes: each is a bounded mailbox that
// receives the messages broadcast on the topics it subscribes to.
//
//	ps, err := pubsub.New(ctx, pubsub.Config{Name: "my_pubsub"}) // one node, no adapter
//	defer ps.Close()
//	sub, err := ps.NewSubscriber()
//	err = sub.Subscribe("user:123")
//	err = ps.Broadcast(ctx, "user:123", UserUpdate{ID: 123, Name: "Shane"})
//	msg := <-sub.C()                              // msg.Topic == "user:123"
//	update, err := pubsub.As[UserUpdate](msg)     // on every node, registered type or not
//
// (Example is the same, with every error checked.)
//
// # Broadcasts
//
// Broadcast reaches every subscriber of a topic on every node; BroadcastFrom skips the sender's own
// subscriptions on this node; LocalBroadcast and LocalBroadcastFrom stay on this node; DirectBroadcast
// reaches one node. The Must… variants panic with a *BroadcastError, like Phoenix's bang functions.
// A broadcast sends to the adapter first and then delivers locally: an adapter error is returned and
// nothing is delivered on this node, though other nodes may have received the message when the error
// came after the frame left (a lost answer: see docs/guarantees.md). Local delivery is complete when the
// call returns.
//
// # Guarantees
//
// A broadcaster never blocks on a subscriber: a full mailbox drops (OverflowPolicy), counts the drop in
// Subscriber.Dropped, and the PubSub reports a slow consumer once per episode (Config.OnSlowConsumer),
// from its own goroutine. The messages of one broadcaster reach each subscriber in the order they were
// broadcast, and every message broadcast is either received or counted as dropped. Payloads are passed
// by value locally (not copied: treat them as immutable once broadcast) and travel as msgpack between
// nodes; RegisterType keeps their Go type across nodes.
//
// # Dispatchers
//
// A Dispatcher receives a topic's entries (subscriber and subscription metadata), the sender and the
// message, and decides who gets what: Phoenix's custom dispatching, used for example by the fastlane
// in package fastlane. Dispatchers are registered by name in Config.Dispatchers, and a broadcast picks
// one with WithDispatcher; the name travels with the message to other nodes.
//
// # Concurrency
//
// Every method of PubSub and Subscriber is safe for concurrent use. Dispatchers run on the goroutine
// that delivers (the broadcaster's, or the adapter's receive loop) and must not block. Close is
// idempotent, stops every goroutine the PubSub started, and closes every subscriber; every call after
// it returns ErrClosed.
//
// To learn that a subscriber closed (a connection ended), use Subscriber.Done or Subscriber.AfterClose for
// a few subscribers, and a CloseWatcher (PubSub.NewCloseWatcher) for very many: it costs one bit per
// watched subscriber and calls its function on the goroutine that closes the subscriber, where it must
// not block. The tracker watches its owners with one.
//
// # Shutdown
//
// A node leaves in one of two ways. A crash (or Close without more) is noticed by the others through
// silence: the tracker's peers remove its presences after DownPeriod. A graceful leave tells them at
// once. The order for a graceful leave: the tracker's GracefulPermdown(ctx) first (it announces the
// departure through the PubSub, says whether it could, and closes the tracker), then PubSub.Close (which
// closes the adapter and every subscriber, and stops every goroutine):
//
//	if err := presence.GracefulPermdown(ctx); err != nil {
//		log.Printf("leaving without telling the peers (they will notice within DownPeriod): %v", err)
//	}
//	ps.Close()
//
// Close is idempotent and bounded in time, even while Redis does not answer. After it, every call
// returns ErrClosed (errors.Is), the tracker's included.
//
// # Between nodes
//
// The PubSub encodes each remote broadcast into a frame, numbers it and, with Config.Secrets, signs it;
// receivers drop what is malformed, forged or replayed, deliver frames that overtook each other once,
// and announce frames that never arrived as a Gap on GapTopic (a reserved topic: no broadcast function
// accepts it). Stats counts every dropped frame by reason. docs/protocol.md is the specification.
//
// Adapters implement Adapter; its documentation states what they may assume and must guarantee, and
// who does what. Package pubsubtest checks an adapter against Phoenix's semantics.
package pubsub
