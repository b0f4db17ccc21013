// Package pubsubtest is the conformance suite every pubsub.Adapter passes, in the manner of
// testing/slogtest: an adapter's tests call Run with a Factory that starts PubSubs on the adapter, and
// the suite checks them against Phoenix.PubSub's semantics as package pubsub defines them.
//
// An adapter author writes one test:
//
//	func TestConformance(t *testing.T) {
//		srv := miniredis.RunT(t) // whatever the nodes share
//		pubsubtest.Run(t, func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
//			nodes := make([]*pubsub.PubSub, n)
//			for i := range nodes {
//				a, err := myadapter.New(myadapter.Config{Addr: srv.Addr(), NodeName: fmt.Sprintf("node%d", i)})
//				var ps *pubsub.PubSub
//				if err == nil {
//					cfg.Adapter = a
//					ps, err = pubsub.New(cfg)
//				}
//				if err != nil {
//					for _, started := range nodes[:i] {
//						started.Close()
//					}
//					t.Fatal(err)
//				}
//				nodes[i] = ps // the suite closes it
//			}
//			return nodes
//		}, pubsubtest.Features{Nodes: 3})
//	}
//
// Features says what the adapter supports: with Nodes ≥ 2 the cross-node checks run on clusters of
// up to three nodes; with 1 they are skipped. Factory's documentation states what the suite assumes of
// a cluster (distinct node names, a healthy transport, readiness).
//
// # Checks
//
// Each check is a subtest, named Group/Check, so that one can be run alone with go test -run. Checks
// that a message is not delivered wait a quiet period and then assert that nothing arrived; where the
// per-node order guarantee allows, they also broadcast a fence after it and require the fence to arrive
// first.
//
//   - Subscribe: a broadcast reaches a subscriber once; duplicate subscriptions deliver duplicates;
//     Unsubscribe removes all of them, is nil for a topic not held, and leaves other topics; topics are
//     exact; Subscriber.Close keeps queued messages readable, then closes C, removes every subscription
//     (a dispatcher no longer sees it), and makes later calls return ErrSubscriberClosed; Receive
//     honours its context; subscriber IDs are distinct.
//   - Errors: ErrEmptyTopic, ErrEmptyNode, ErrNilSubscriber, ErrSubscriberClosed, ErrForeignSubscriber
//     and ErrUnknownDispatcher from every call that can meet them, with nothing delivered; after the
//     PubSub's Close (idempotent), every call returns ErrClosed and its subscribers are closed; the
//     Must… variants panic with a *pubsub.BroadcastError carrying the error, Op and Topic.
//   - Broadcast: every subscriber receives the value itself; local delivery is done when any broadcast
//     call returns; BroadcastFrom and LocalBroadcastFrom skip all the sender's subscriptions;
//     DirectBroadcast to this node delivers locally, to an unknown node returns nil and delivers
//     nothing; the Must… variants do not panic on success; NodeName is non-empty and stable.
//   - Dispatch: a custom dispatcher is called once per broadcast with every entry (the sender's and
//     duplicates included) and its metadata (nil without), with from set by the *From variants only;
//     never for a topic without subscribers; pubsub.DefaultDispatcher works by name; a dispatcher may
//     subscribe, unsubscribe and broadcast from inside Dispatch.
//   - Payload: local delivery keeps values, []byte and strings as they are; across nodes a registered
//     type arrives as itself, []byte and string as themselves, and anything else as a pubsub.Encoded;
//     Message.Decode fills a value of the payload's shape and rejects nil and non-pointer targets.
//   - Ordering: each broadcaster's 1000 messages reach every subscriber in order, with one or many
//     broadcasters, on one node and across nodes.
//   - Overflow: a subscriber that does not read never blocks a broadcaster; queued plus Dropped equals
//     what was broadcast; DropNewest keeps the oldest, DropOldest the newest; Config.OnSlowConsumer
//     fires exactly once per episode, again after the mailbox drained and refilled; other subscribers,
//     and other subscribers on a receiving node, lose nothing.
//   - Concurrency: broadcasters on every node while subscribers subscribe, unsubscribe, broadcast and
//     close, with nothing lost or reordered for steady subscribers; a PubSub's Close racing broadcasts
//     and subscriptions, where every call returns nil or ErrClosed and nothing blocks.
//   - CrossNode: Broadcast reaches every node exactly once; BroadcastFrom skips the sender on its node
//     only; LocalBroadcast stays on its node; DirectBroadcast reaches its target only, and nothing for
//     an unknown node; a dispatcher name travels and the receiving node dispatches with its own, with
//     from nil, once per node that has subscribers; a dispatcher on a receiving node may broadcast; a
//     node's Close does not disturb the others.
//
// Run the suite with -race: the concurrency checks are meant for the race detector. The suite
// registers its payload types ("pubsubtest.point", "pubsubtest.seq", "pubsubtest.ping") with
// pubsub.RegisterType when the package is initialised.
package pubsubtest
