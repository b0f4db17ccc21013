// Package presence is Phoenix.Presence for Go: who is in a topic, for clients, on top of a
// tracker.Tracker.
//
// A Presence runs a tracker of its own and does the two things every client-facing use of a tracker
// needs, so that users stop writing a tracker.Handler by hand:
//
//   - List and GetByKey group a topic's presences by key, in Phoenix.Presence's shape
//     ({key: {metas: [meta, ...]}}, each meta with its "phx_ref"): what a client receives as
//     presence_state.
//   - Each change is delivered to the topic's subscribers on this node as a pubsub.Message whose payload
//     is a Diff ({joins, leaves}, in the same shape): Phoenix's presence_diff. The tracker's handler runs
//     on every node for every change, so Presence sends it with LocalBroadcast: each subscriber gets each
//     diff exactly once, wherever the change happened. (With Broadcast it would get one copy per node.)
//
// Diffs go to the topic the presence is tracked in, the topic clients subscribe to for its messages, as
// in Phoenix. Set Config.Dispatcher to the fastlane's name (package fastlane) to have them encoded once
// per node and written straight to each connection:
//
//	p, err := presence.New(ps, presence.Config{
//		Tracker:    tracker.ProductionConfig("presence", nil),
//		Dispatcher: fastlane.Name,
//	})
//	ref, err := p.Track(sub, "room:lobby", "alice", map[string]any{"status": "online"})
//	state := p.List("room:lobby") // presence.Presences{"alice": {Metas: [{"status": "online", "phx_ref": ref}]}}
//
// A subscriber of "room:lobby" then receives a pubsub.Message with a Diff payload for every join, leave
// and update in "room:lobby", on any node: send List's result to a new client first, then each Diff,
// and the client applies them as Phoenix's JavaScript Presence does (joins and leaves matched by
// phx_ref).
//
// Config.Fetch is Phoenix's fetch/2: it may add data of its own to every entry listed or sent (a user's
// name from a database, say), once per topic per diff on each node rather than once per client.
package presence
