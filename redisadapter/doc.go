// Package redisadapter is the Redis adapter of package pubsub: any number of Go processes that point at
// the same Redis with the same PubSub name form one PubSub. Broadcast reaches the subscribers of every
// node, DirectBroadcast reaches one node, LocalBroadcast stays local.
//
//	a, err := redisadapter.New(redisadapter.Config{URL: "redis://localhost:6379/0", NodeName: "web-1"})
//	ps, err := pubsub.New(ctx, pubsub.Config{Name: "chat", Adapter: a})
//
// # Channels
//
// Each PubSub uses two kinds of Redis channels, namespaced by its name: one for broadcasts
// (phx:{name}:broadcast) and one per node (phx:{name}:node:<node>), for direct broadcasts and the
// node's liveness probe. Every node subscribes to the broadcast channel and to its own.
//
// # Routing by topic
//
// With Config.RouteByTopic, broadcasts go to the channel of their topic's bucket (phx:{name}:b:<hex>,
// the FNV-1a hash of the topic modulo Buckets) instead of the broadcast channel, and a node subscribes
// to a bucket while one of its subscribers holds a topic in it (the PubSub tells the adapter of each
// topic's first and last local subscription: pubsub.TopicRouter), leaving it RouteLinger after the
// last. A node then reads about its subscribers' share of the traffic. SUBSCRIBE and UNSUBSCRIBE go out
// in batches from a goroutine of the adapter's, never from Subscribe; pubsub.Subscriber.SubscribeContext
// waits until Redis confirms a topic's bucket. Topics with one of BroadcastPrefixes (the tracker's
// gossip) stay on the broadcast channel. On a *redis.ClusterClient routing uses sharded pub/sub:
// SPUBLISH, and SSUBSCRIBE on one connection per partition of buckets, each partition in one slot, with
// recovery when a slot moves or a master fails over. docs/operations.md tells when to route and how to
// size it.
//
// # Sending
//
// A node publishes through one goroutine that batches every frame queued while a pipeline is in flight
// into the next pipeline (group commit): a broadcast returns once Redis has accepted its frame (or its
// context ends: see Errors and timeouts), many
// concurrent broadcasts share round trips, and frames reach every other node in the order they were
// queued. The adapter is a transport: the PubSub numbers and signs the frames (pubsub.Adapter says who
// does what), and the adapter sends their bytes unchanged. On Redis Cluster every PUBLISH is routed to
// the slot of the PubSub's channels (they share a hash tag), so one node's frames keep their order, and
// the slot map is reloaded after a failure, so a failover costs seconds, not a minute.
//
// When the adapter builds its own client (Config.URL, on Linux), that goroutine publishes on a connection
// of its own, dialled like the subscription's (the client's Dialer, AUTH, CLIENT SETNAME) and re-dialled
// after a failure, instead of taking one from go-redis's pool for every round trip: a round trip is one
// write and one read, with no allocation. With Config.Client it uses the client's pool.
//
// # Receiving
//
// The adapter reads its subscription itself (not with go-redis's Channel, which blocks its reader for up
// to a minute and then drops silently), drops frames over MaxMessageSize and its own echoes, and hands
// the rest to the PubSub, which checks them before anything is decoded and whose mailboxes never block.
//
// It subscribes on a connection of its own, read with a small RESP2 reader instead of go-redis's PubSub:
// the connection is dialled with the client's own Options().Dialer (TLS, and for a failover client the
// current master, as go-redis would) and set up with AUTH (Username/Password, CredentialsProvider or
// CredentialsProviderContext) and CLIENT SETNAME (ClientName); on a ClusterClient it goes to the master
// of the channels' slot (MasterForKey), where go-redis would subscribe. Every length is checked before
// anything is read: a frame over MaxMessageSize is skipped unread, never allocated (go-redis allocates
// whatever a frame declares, up to 512 MB); this node's own echoes are dropped without an allocation;
// a frame delivered costs one copy. Malformed RESP or an error reply ends the subscription, which is
// replaced and reported as a gap. The adapter falls back to go-redis's PubSub for what that connection
// cannot honour: a client that is neither a *redis.Client nor a *redis.ClusterClient (a Ring, a type of
// the program's own), a custom OnConnect, a StreamingCredentialsProvider, a ClusterClient that reads
// from replicas (ReadOnly, RouteByLatency, RouteRandomly). go-redis hooks (AddHook) do not see the
// adapter's own subscription connection.
// A probe published to the node's own channel every ProbeInterval proves the subscription alive; one
// that carries nothing for 1.5 intervals (a connection that is open but dead) is closed and replaced.
// Every resubscription is reported to the PubSub as a possible gap (pubsub.GapTopic), which the tracker
// uses to resynchronise.
//
// # Hostile input
//
// Anyone who can PUBLISH to the Redis can write on these channels. Frames over MaxMessageSize are
// dropped here; frames malformed, of another protocol version, unsigned or badly signed (with
// pubsub.Config.Secrets), replayed, or naming an unknown dispatcher or payload type are dropped by the
// PubSub; all are counted (Stats, pubsub.Stats) and logged at a bounded rate.
//
// # Errors and timeouts
//
// A broadcast's context bounds it, whether its frame is still queued on this node or already in a
// pipeline. An error from Broadcast or DirectBroadcast means "not sent" only when the frame never left
// this node: ErrTooLarge, a closed adapter, the context ending while the frame was queued, an error
// answer from Redis. Any other error wraps ErrMaybeDelivered: the frame was in a pipeline when the
// call gave up (its context ended, Close abandoned it) or the round trip failed, so Redis may have
// published it and other nodes may have received it. Over a network nothing better can be known.
//
// go-redis does not interrupt a read or write when a context ends, so a round trip into a black hole
// lasts until go-redis's ReadTimeout or WriteTimeout (5 s by default in go-redis v9.23, which this
// module pins; some go-redis documentation says 3 s) even after its caller has returned. Close does not
// wait for it: after 250 ms it closes the adapter's own client and every connection that client
// opened. A client given in Config.Client is the program's and is not closed: Close waits 250 ms more
// for a round trip blocked on it, then returns without it (the publisher's goroutine returns when that
// round trip ends: at go-redis's timeout, or when the program closes its client).
//
// Delivery is at most once, as Redis pub/sub is: what is lost during a disconnection is lost, and
// reported as a gap.
package redisadapter
