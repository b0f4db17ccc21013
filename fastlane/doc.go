// Package fastlane is Phoenix.Channel.Server's fastlane as a pubsub.Dispatcher, built on the root
// package's custom dispatching.
//
// Dispatcher is the fastlane: a broadcast fanned out to N connections is
// encoded once, not N times, and the encoded frame goes straight to each connection's writer instead of
// through the subscriber's mailbox.
//
// A connection subscribes with its writer in the subscription metadata, and broadcasts that should take
// the fastlane name the dispatcher registered in pubsub.Config.Dispatchers:
//
//	fl := &fastlane.Dispatcher{} // JSONEncoder by default
//	ps, err := pubsub.New(ctx, pubsub.Config{
//		Name:        "app",
//		Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: fl},
//	})
//	...
//	sub, err := ps.NewSubscriber()
//	err = sub.Subscribe("room:lobby", fastlane.WithWriter(conn)) // conn implements FrameWriter
//	...
//	err = ps.Broadcast(ctx, "room:lobby", msg, pubsub.WithDispatcher(fastlane.Name))
//
// Each dispatch encodes the message with the dispatcher's Encoder at most once, the first time it meets
// a fastlane entry, and hands the same bytes to every FrameWriter, skipping the sender's entries
// (BroadcastFrom). Entries without fastlane metadata receive the plain pubsub.Message in their mailbox,
// as in Phoenix, so fastlane and ordinary subscribers can share a topic. Register the dispatcher under
// the same name, with the same Encoder, on every node: the name travels with remote broadcasts and each
// node encodes for its own connections.
//
// # Concurrency
//
// Dispatch runs on the goroutine that delivers the broadcast (the broadcaster's, or the adapter's receive
// loop) and may run concurrently for different broadcasts, so Encoder and every FrameWriter must be safe
// for concurrent use and must not block: a writer that cannot take a frame at once drops it and returns
// false, and the dispatcher counts it. The frame is shared by every writer of the broadcast: writers
// must treat it as read-only, and may keep it (it is never reused).
package fastlane
