// Package phoenixpresence makes a Go node a replica of an Elixir Phoenix application's Presence
// (Phoenix.Tracker), through the Redis its Phoenix.PubSub.Redis adapter uses: presences tracked in Go
// appear in MyApp.Presence.list/1 on the Elixir nodes, with the usual presence_diff joins, updates
// and leaves, and the Elixir presences are listed in Go, with their handler's diffs.
//
// EXPERIMENTAL, VERSION-PINNED. It speaks Phoenix.Tracker's gossip, which is private to
// phoenix_pubsub: its structs (%Phoenix.Tracker.State{}, MapSet) travel as they are, with no protocol
// version. Tested against phoenix_pubsub 2.2.0 with Phoenix 1.7.21 (Elixir 1.14 on OTP 25, a real node
// in the tests) and the frames of Phoenix 1.8.8 on Elixir 1.18; any other version may change the
// shapes without notice. Gossip of another shape is dropped and counted (Stats.DroppedGossip), never
// merged.
//
//	a, _ := phoenixadapter.New(phoenixadapter.Config{URL: url, PubSubName: "MyApp.PubSub", NodeName: "worker@host"})
//	ps, _ := pubsub.New(ctx, pubsub.Config{Name: "MyApp.PubSub", Adapter: a})
//	pr, _ := phoenixpresence.New(ps, a, phoenixpresence.Config{Name: "MyApp.Presence"})
//	ref, _ := pr.Track(conn, "room:lobby", "worker-1", map[string]any{"status": "online"})
//	for _, p := range pr.List("room:lobby") { ... }   // Elixir's presences and Go's
//
// # How it works
//
// A Tracker is one more shard of the Presence (pool size 1: the only one supported). It subscribes to
// the shard's gossip topic, "phx_presence:Elixir.MyApp.Presence_shard0", on the Go PubSub and
// publishes there through the adapter, as Phoenix.Tracker.Shard does: a heartbeat every
// BroadcastPeriod with the delta of its changes (or an empty one every MaxSilentPeriods), a
// transfer_req to the replicas whose clocks show something it lacks, a transfer_ack to those that
// ask (a delta generation when one covers what the asker lacks, else the full state), and a
// graceful_permdown when it leaves. Its state is Phoenix.Tracker.State's delta CRDT (contexts, clouds,
// values under their dots), merged by the same rules; replicas are up, down after DownPeriod of
// silence and removed after PermdownPeriod, by Phoenix's timings, which must be those of the Elixir
// Presence.
//
// The replica's name is the adapter's NodeName; its vsn is chosen at start, so a restarted Go node is
// a new replica. Each Owner that tracks gets a pid of that node (NEW_PID_EXT, with a creation chosen
// at start): Elixir lists one entry per pid, and the Owner's end (its Done channel) removes its
// presences, as an Elixir process exit does. Metas travel as maps whose keys are binaries, with
// phx_ref (and phx_ref_prev after an update) as atoms, as Phoenix adds them; their values must have an
// Elixir counterpart (package phoenixadapter's mapping) and carry no atoms.
//
// # Differences from Phoenix.Tracker
//
// Values are keyed by their dot, not by {topic, pid, key}, which keeps replicas convergent where
// Phoenix's keying can lose an update for good (see docs/differences-from-phoenix.md). Dots another
// replica claims for this one are ignored. A heartbeat's merge costs the size of its delta, not of
// the state.
//
// # Trust
//
// As with Phoenix itself, anyone who can PUBLISH to the Redis can claim any node name and track,
// update or remove any presence. The Go replica bounds what it accepts (Config.Limits) and counts
// what it drops; it never creates anything global from gossip (atoms are Go strings here).
package phoenixpresence
