// Package tracker is Phoenix.Tracker for Go: conflict-free presence replicated through a pubsub.PubSub.
// Presences tracked on any node ("user:1 is in lobby, away") are listed on every node, survive netsplits
// and converge when they heal, and leave when their owner ends or their node goes away.
//
//	t, err := tracker.New(ps, tracker.Config{Name: "presence", Handler: h})
//	ref, err := t.Track(sub, "lobby", "user:1", map[string]any{"status": "away"})
//	list := t.List("lobby")
//
// # Replication
//
// Each shard of a tracker is a replica of an add-wins observed-remove set with a causal context (Phoenix's
// delta-CRDT, state.go). Local changes are gossiped at once as small deltas, and every BroadcastPeriod
// as a heartbeat (an empty one after MaxSilentPeriods quiet periods); every ClockSamplePeriods heartbeats
// a shard compares the clocks it heard and asks the most advanced replicas for what it lacks (from their
// delta generations, or their whole state). A replica silent for DownPeriod is down: its presences leave
// (hidden, kept); silent for PermdownPeriod it is discarded for good (its id too: Phoenix #179). A node
// that restarts is a new replica, and its old one is discarded at its first heartbeat. GracefulPermdown
// tells every replica at once; Close is a crash. A gap reported by the PubSub (a Redis reconnect) makes
// every shard ask its peers for what it may have missed.
//
// # Owners
//
// An Owner stands in for the Elixir process that tracks: a *pubsub.Subscriber, a context.Context, or
// any comparable value with a Done channel. When it is done, its presences leave, on every node.
//
// # Shutdown
//
// Close stops the tracker like a crash: peers remove this replica's presences after DownPeriod.
// GracefulPermdown(ctx) tells them at once (Phoenix's graceful_permdown, memberlist's Leave), then
// closes the tracker, and returns why the announcement could not be sent if it was not. Call it before
// closing the PubSub, which the tracker needs to send: once the PubSub is closed, every tracker call
// returns ErrClosed.
//
// # Reads and diffs
//
// List and GetByKey read per-topic views that never wait for a merge or a handler. The Handler's
// HandleDiff runs on the tracker's own goroutine, in order, with panic isolation.
//
// # Gossip
//
// Gossip travels on the PubSub topic "phx_presence:<Name>_shard<i>"; every node must use the same Name
// and PoolSize. Sends never run on the shard's goroutine: an outbox per shard encodes and sends them,
// coalescing heartbeats while the network is slow, so a Redis black hole delays neither Track nor
// failure detection. Transfers larger than MaxGossipSize (full states of any size, large deltas) travel
// as streams of chunks under the receiver's credit (TransferWindow, ReceiveWindow), so as not to overflow
// Redis's output buffers, in parts the receiver merges as they arrive. Without a Secret, anyone who can publish on the Redis can send gossip: the tracker bounds what
// it holds (MaxReplicas, MaxTransferSize, tombstones, transfer answers per requester), refuses the
// forgeries it can detect, and counts every refusal by reason (Stats.DroppedGossipByReason); see
// docs/tracker.md for the trust boundary.
package tracker
