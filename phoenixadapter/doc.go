// Package phoenixadapter makes a Go PubSub a node of an Elixir Phoenix application's Phoenix.PubSub,
// through the Redis that the application's Phoenix.PubSub.Redis adapter (phoenix_pubsub_redis 3.x)
// already uses. Go and Elixir nodes then broadcast to each other's subscribers, and a Go program can
// push a Phoenix.Socket.Broadcast straight to the browsers joined to a Phoenix channel:
//
//	a, err := phoenixadapter.New(phoenixadapter.Config{
//		URL:        "redis://127.0.0.1:6379",
//		PubSubName: "MyApp.PubSub", // as in {Phoenix.PubSub, name: MyApp.PubSub, adapter: Phoenix.PubSub.Redis}
//		NodeName:   "worker@host",
//	})
//	ps, err := pubsub.New(ctx, pubsub.Config{Name: "MyApp.PubSub", Adapter: a})
//	err = ps.Broadcast(ctx, "room:lobby", phoenixadapter.SocketBroadcast{
//		Topic: "room:lobby", Event: "new_msg", Payload: map[string]any{"body": "hi"}})
//
// # The wire
//
// One Redis channel per PubSub, "phx:Elixir.<PubSubName>.Adapter", shared by every node and topic.
// Each message is one PUBLISH of term_to_binary({3, mode, node, topic, message, dispatcher}), zlib
// compressed when Config.Compression is set and that is smaller. A broadcast has mode :except and
// names its sender; a direct broadcast has mode :only and names its target. A node delivers :except
// frames not from itself and :only frames for itself, and ignores everything else (other versions,
// other shapes), as Phoenix does. Terms are encoded and decoded by this module's own codec, bounded on
// hostile input (see docs/phoenix.md for the limits).
//
// # Go and Elixir values
//
//	Elixir                                  Go, received                 Go, sent
//	binary ("hi")                           string                       string, []byte
//	integer                                 int64, *big.Int (beyond 64 bits)  any integer type, *big.Int
//	float                                   float64                      float32, float64 (finite)
//	nil, true, false                        nil, true, false             nil, true, false
//	other atom (:ok)                        Atom                         Atom, if listed in Config.Atoms
//	list                                    []any                        []any, any slice or array
//	map with binary keys                    map[string]any               map[string]V
//	other map (%{status: "on"})             Map (pairs)                  Map, map[Atom]V (atoms listed)
//	tuple                                   Tuple                        Tuple
//	%Phoenix.Socket.Broadcast{}             SocketBroadcast              SocketBroadcast
//	pid, reference                          Pid, Ref (opaque)            Pid, Ref (node atom listed)
//	improper list, bitstring                ImproperList, BitBinary      the same
//
// A Go struct is sent as a map with binary keys (field names from `etf:"name"` tags, else `json`
// tags, else the Go names). Go types with no Elixir counterpart (channels, functions) fail with
// ErrUnencodable, and nothing is published. A SocketBroadcast is converted only as the whole payload.
// Other Elixir structs arrive as a Map with a :__struct__ key.
//
// With Config.TermPayloads, received messages arrive as Term values, which Message.Decode and
// pubsub.As decode straight into a struct (or any Go value) without an intermediate map[string]any:
// the fast way to read a Phoenix app's payloads into Go types.
//
// # What the Phoenix protocol does not carry
//
// This is an adapter that carries messages (pubsub.MessageCarrier): the frames have no sequence
// numbers, no signature and no sender incarnation, so the PubSub's loss detection beyond reconnects,
// duplicate suppression, replay protection and signing (Config.Secrets, refused) do not apply, and
// there are no per-node channels: every node decodes every frame. Direct broadcasts from Elixir do not
// name their sender (RemoteMessage.Origin is ""). Any node can claim any name; anyone who can PUBLISH
// to the Redis can send to every node, as with Phoenix itself.
//
// # Safety
//
// Elixir nodes decode frames with binary_to_term/1: a payload that is not a term crashes their
// receiver (losing the next ~20-30 ms of messages on every Elixir node), and every atom a frame names
// is created on every Elixir node, forever. So the adapter publishes only frames its encoder built,
// refuses payloads with atoms outside Config.Atoms, and never turns received data into atoms. Frames
// that fail to decode are dropped, counted (Stats.Undecodable) and logged at a bounded rate.
//
// # Concurrency
//
// Broadcast and DirectBroadcast are safe for concurrent use; frames whose calls do not overlap are
// published in call order, by one goroutine that pipelines what queues up. Received frames are decoded
// and delivered on the adapter's receive goroutine.
package phoenixadapter
