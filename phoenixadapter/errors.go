package phoenixadapter

import "errors"

// Errors of Broadcast and DirectBroadcast besides those of package pubsub.
var (
	// ErrUnencodable: the payload has no Elixir counterpart (a channel, a NaN, an Atom not in
	// Config.Atoms...). Nothing was published.
	ErrUnencodable = errors.New("phoenixadapter: payload cannot be sent to Elixir")
)
