// Package pubsubtest is the conformance suite every pubsub.Adapter passes, in the manner of
// testing/slogtest: an adapter's tests call Run with a Factory that starts PubSubs on the adapter, and
// the suite checks them against Phoenix.PubSub's semantics as package pubsub defines them; and they call
// RunAdapter, which checks the adapter itself against the Adapter contract (see "Checking an adapter
// against its contract" below). It also provides Cluster, an in-memory transport on which users' tests
// run several nodes of a PubSub without Redis, with partitions and other faults (see "Testing your own
// code on several nodes").
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
//					ps, err = pubsub.New(context.Background(), cfg)
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
//     never for a topic without subscribers; pubsub.DefaultDispatcher() works by name; a dispatcher may
//     subscribe, unsubscribe and broadcast from inside Dispatch.
//   - Payload: local delivery keeps values, []byte and strings as they are; across nodes a registered
//     type arrives as itself, []byte and string as themselves, and anything else as a pubsub.Encoded;
//     Message.Decode fills a value of the payload's shape and rejects nil and non-pointer targets.
//   - Ordering: each broadcaster's 1000 messages reach every subscriber in order, with one or many
//     broadcasters, on one node and across nodes.
//   - Overflow: a subscriber that does not read never blocks a broadcaster; queued plus Dropped equals
//     what was broadcast; DropNewest keeps the oldest, DropOldest the newest, CloseOnOverflow closes
//     the subscriber (its reader drains the queue, then gets ErrSlowConsumer); Config.OnSlowConsumer
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
// # Checking an adapter against its contract
//
// Run checks what a PubSub does on top of an adapter; a PubSub masks some faults (it drops duplicates,
// for one) and turns others into symptoms far from their cause. RunAdapter calls an adapter directly,
// with fake hosts and no PubSub, and checks it against the numbered sentences of pubsub.Adapter's
// contract: each failure starts with the sentence broken, quoted, then says what happened, as
// testing/slogtest does for slog handlers:
//
//	contract 3 ("Frames whose calls do not overlap must reach every other node in the order of the calls"): node 1 received frame 17 of stream 0>*/seq before frame 16
//
// An adapter that routes by topic (pubsub.TopicRouter, with Routes above 0) is checked as its contract
// says: after starting the adapters, the suite declares interest in its topics on every node
// (Interest, then AwaitTopic), and checks the order of broadcasts per route. Run's checks subscribe
// with SubscribeContext, so they hold for routers too.
//
// An adapter author writes one more test, with a factory that makes n unstarted adapters on one
// transport (the suite starts and closes them):
//
//	func TestAdapterContract(t *testing.T) {
//		pubsubtest.RunAdapter(t, func(t testing.TB, n int, name string) []pubsub.Adapter {
//			srv := miniredis.RunT(t) // whatever the nodes share; stopped after the adapters close
//			adapters := make([]pubsub.Adapter, n)
//			for i := range adapters {
//				a, err := myadapter.New(myadapter.Config{Addr: srv.Addr(), Namespace: name, NodeName: fmt.Sprintf("node%d", i)})
//				if err != nil {
//					for _, made := range adapters[:i] {
//						made.Close()
//					}
//					t.Fatal(err)
//				}
//				adapters[i] = a
//			}
//			return adapters
//		}, pubsubtest.AdapterFeatures{Nodes: 3, Disrupt: func(t testing.TB, a pubsub.Adapter) {
//			// break a's connection, as a network fault would (optional)
//		}})
//	}
//
// The frames the suite sends are bytes of its own ("pubsubtest:…"), which an adapter carries unchanged
// without parsing them. An adapter that is a pubsub.MessageCarrier is called as the PubSub calls it
// (Frame.Bytes nil, a []byte in Frame.Payload) and must hand what it receives to HandleMessage. The
// checks, each a subtest named Subject/Check:
//
//   - Start: frames sent as soon as every Start has returned arrive, both ways, broadcast and direct
//     (sentence 1); a second Start fails (an adapter serves one PubSub); NodeName is the same before
//     Start, after it and after Close (7).
//   - Broadcast: every node's broadcasts reach every other node, once each and in order (2, 5, 3). A
//     node handed back its own frames is tolerated, since the PubSub skips them, and logged.
//   - DirectBroadcast: a direct broadcast reaches its target only, not even the sender (2); to a node
//     nobody runs it returns nil and reaches no node (2).
//   - Bytes: the sender reuses one buffer and overwrites it as soon as each call returns; every receiver
//     still gets each frame as sent (2: f.Bytes is valid only until the call returns).
//   - Order: 1,000 broadcasts and 1,000 direct broadcasts from one node, one call after the other,
//     arrive complete, once and in order at every receiver; so do the frames of several goroutines per
//     node sending at once, each goroutine's in its own order (3; run with -race). Order is checked per
//     stream (a sender's broadcasts, or its direct frames to one target), as the PubSub numbers frames.
//   - Context: Broadcast and DirectBroadcast with a cancelled context return (4); nil is accepted too
//     (the transport may have accepted the frame before the adapter looked at the context).
//   - Close: Close returns within AdapterFeatures.CloseTimeout (8), also on an adapter never started
//     (1); once Close has returned, its host is never called again, even while other nodes keep sending
//     (8); Broadcast and DirectBroadcast after Close return an error, not nil and not never (4); after
//     one node closes, frames still flow between the others (2).
//   - Gap (with AdapterFeatures.Disrupt): after Disrupt, the node's host sees HandleGap, and frames flow
//     again both ways (1).
//
// Every check also fails if a host is handed bytes that are not a frame the suite sent, as sent, or is
// called after its adapter's Close returned. Goroutines an adapter leaves behind after Close (sentence
// 8) are for the caller's leak checker (go.uber.org/goleak, say) to find.
//
// # Testing your own code on several nodes
//
// Cluster is an in-memory transport for tests: the nodes of one PubSub in one process, without Redis,
// with the faults of a network on demand. Each node gets its adapter from Cluster.Adapter, or
// Cluster.Node starts a PubSub on one and closes it when the test ends:
//
//	func TestChatAcrossNodes(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			c := pubsubtest.NewCluster()
//			a := c.Node(t, "a", pubsub.Config{Name: "chat"})
//			b := c.Node(t, "b", pubsub.Config{Name: "chat"})
//			sub, err := b.NewSubscriber()
//			if err != nil {
//				t.Fatal(err)
//			}
//			sub.Subscribe("room:1")
//			a.Broadcast(ctx, "room:1", "hello")
//			c.Partition([]string{"a"}, []string{"b"})
//			a.Broadcast(ctx, "room:1", "lost")
//			c.Heal()
//			a.Broadcast(ctx, "room:1", "again")
//			synctest.Wait() // every frame sent has been handled: sub has "hello" and "again" queued
//			time.Sleep(time.Second)
//			// b has announced the loss (a pubsub.Gap) on pubsub.GapTopic
//		})
//	}
//
// Delivery is asynchronous, and in order per sender and receiver, as over a network: a Broadcast returns
// before other nodes have the message. In a testing/synctest bubble (start the nodes inside it),
// synctest.Wait returns once every frame sent has been handled; outside one, receive with a timeout.
//
// Faults are set by node name and apply to the frames sent from then on: Partition (groups that do not
// hear each other) and Heal, Block (one direction) and Unblock, Drop (a filter on each receiver's
// Frame), FailSends (every send fails, as with the transport down) and SetMaxFrame (a message size
// limit). Disrupt loses a node's queued frames and reports a Gap there, as a reconnect would; Inject
// hands a node hostile bytes (forged, replayed, malformed) and returns what its PubSub said. Tap sees
// every frame sent, and Stats and Errors count and explain what happened to them. A Cluster keeps the
// Adapter contract (the package's own tests run RunAdapter and Run on it), so what a test sees on it is
// what a real transport may do, minus latency.
//
// Run the suite with -race: the concurrency checks are meant for the race detector. The suite
// registers its payload types ("pubsubtest.point", "pubsubtest.seq", "pubsubtest.ping") with
// pubsub.RegisterType when the package is initialised.
package pubsubtest
