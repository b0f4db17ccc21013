package phoenixadapter

import "github.com/phxgo/pubsub/internal/etf"

// The Go types of the Elixir values that have no Go counterpart of their own (see the package
// documentation for the whole mapping).
type (
	// Atom is an Elixir atom (:ok, MyApp.Module) other than nil, true and false, which are Go's nil,
	// true and false. Outgoing payloads may carry only the atoms listed in Config.Atoms.
	Atom = etf.Atom
	// Tuple is an Elixir tuple.
	Tuple = etf.Tuple
	// Map is an Elixir map whose keys are not all binaries (atom keys, as in %{status: "online"}), as
	// its pairs in wire order. Maps whose keys are all binaries are map[string]any.
	Map = etf.Map
	// Pair is one key and value of a Map.
	Pair = etf.Pair
	// ImproperList is a list whose tail is not [], such as [1 | 2].
	ImproperList = etf.ImproperList
	// BitBinary is a bitstring whose length is not a whole number of bytes.
	BitBinary = etf.BitBinary
	// Pid is an Elixir process identifier, opaque.
	Pid = etf.Pid
	// Ref is an Elixir reference, opaque.
	Ref = etf.Ref
	// UnmarshalTypeError is the error of Term.Decode (and Message.Decode of a Term) for a term that
	// does not fit the Go value: it names the term, the Go type and the struct field.
	UnmarshalTypeError = etf.UnmarshalTypeError
)

// SocketBroadcast is Phoenix's %Phoenix.Socket.Broadcast{topic, event, payload}: what
// MyAppWeb.Endpoint.broadcast/3 sends, and what Phoenix channels push to their sockets. A broadcast of
// a SocketBroadcast with the default dispatcher travels with Phoenix.Channel.Server's dispatcher, so a
// browser joined to the channel topic receives it as from Endpoint.broadcast; received ones arrive as
// SocketBroadcast values.
type SocketBroadcast struct {
	Topic   string
	Event   string
	Payload any
}
