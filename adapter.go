package pubsub

import (
	"context"
	"log/slog"
)

// Adapter carries broadcasts between the nodes of one PubSub: Phoenix's Phoenix.PubSub.Adapter. Users
// choose an adapter (Config.Adapter, or Open with a URL) and never call it; the PubSub does.
//
// An adapter moves frames: opaque byte strings that the PubSub encodes (topic, dispatcher, payload,
// origin node and incarnation, see docs/protocol.md) and decodes. The contract:
//
//   - Start is called once, by New, before any other method. The adapter keeps host and, from then on,
//     hands every frame that arrives from another node to host.HandleFrame, and reports every moment
//     when frames may have been lost (a reconnect) to host.HandleGap. Start returns once the adapter can
//     send and receive, or with the reason it cannot.
//   - Broadcast sends frame to every other node of the PubSub, not to this one. DirectBroadcast sends it
//     to the node named node only (never called with this node's own name: the PubSub delivers those
//     itself); an unknown node is not an error. Both may be called concurrently from many goroutines;
//     frames of one node must reach every other node in the order the calls were made, when the calls
//     do not overlap. They return when the transport has accepted the frame, or with why it has not, and
//     must honour ctx, at least until the frame is on its way (a frame already sent may be waited for,
//     since it may already have been delivered). frame is only valid until the call returns.
//   - HandleFrame and HandleGap may be called from any goroutine, but calls for the frames of one
//     origin node must not overlap, and must come in the order the frames were sent. HandleFrame never
//     blocks for long (deliveries go to bounded mailboxes) and returns why a frame was dropped, for the
//     adapter's counters; frame is not retained.
//   - NodeName is constant, and available before Start (the PubSub reads it first).
//   - Close is called once, by PubSub.Close; it stops every goroutine the adapter started and returns
//     once they are gone. No Host method is called after Close returns.
type Adapter interface {
	Start(host Host) error
	NodeName() string
	Broadcast(ctx context.Context, frame []byte) error
	DirectBroadcast(ctx context.Context, node string, frame []byte) error
	Close() error
}

// LocalOnly is implemented by adapters that have no other nodes (localadapter). The PubSub then never
// encodes frames and never calls Broadcast or DirectBroadcast.
type LocalOnly interface {
	LocalOnly() bool
}

// Host is the PubSub as its adapter sees it.
type Host interface {
	// Name is the PubSub's Config.Name; adapters namespace their traffic with it.
	Name() string
	// Incarnation identifies this PubSub instance: random, new at every New. Frames carry it, so an
	// adapter can recognise its own frames and a second live node using the same name.
	Incarnation() [16]byte
	// Logger is the PubSub's logger.
	Logger() *slog.Logger
	// HandleFrame decodes a frame from another node and delivers it to the local subscribers. It
	// returns nil, or why the frame was dropped (wrapping ErrBadFrame, ErrUnknownDispatcher or
	// ErrUnknownType).
	HandleFrame(frame string) error
	// HandleGap reports that frames from other nodes may have been lost (reason says why). The PubSub
	// announces it to its local subscribers of GapTopic.
	HandleGap(reason error)
}
