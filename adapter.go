package pubsub

import (
	"context"
	"log/slog"
)

// Adapter carries broadcasts between the nodes of one PubSub: Phoenix's Phoenix.PubSub.Adapter. Users
// choose an adapter (Config.Adapter) and never call it; the PubSub does.
//
// # Who does what
//
// The PubSub owns the envelope (docs/protocol.md): it encodes every message into a frame, numbers the
// frames of each stream, signs them when Config.Secrets is set (for a FrameSealer, as the adapter takes
// each frame for the wire, through Frame.Seal), and on receipt checks, in this order,
// size and format, signature, addressing, freshness and sequence (dropping duplicates and replays,
// delivering reordered frames once, and reporting frames that never came as a Gap), and only then
// decodes the payload, once, and only when a local subscriber wants the topic. It counts every
// dropped frame by reason (PubSub.Stats) and logs at a bounded rate. An adapter is a transport: it
// moves the bytes of Frame.Bytes from one node to the others and never parses them. So every
// guarantee of docs/guarantees.md about order, loss reporting, duplicates, replay and signing holds
// for any adapter that keeps the contract below, including adapters written outside this module.
//
// # The contract
//
//  1. Start is called once, by New, before any other method, with a context that bounds it. The adapter
//     keeps host and, from then on, hands every frame that arrives from another node to
//     host.HandleFrame, and reports every moment when frames may have been lost in the transport (a
//     reconnect, a subscription that died) to host.HandleGap. Start returns once the adapter can send
//     and receive, or with the reason it cannot. The PubSub owns the adapter from the moment New is
//     called and calls Close exactly once in every outcome: after a failed Start, after a Config error
//     (without Start), or from PubSub.Close. A second Start (a second PubSub given the same adapter)
//     fails with an error wrapping ErrAdapterInUse, and that PubSub does not close the adapter.
//  2. Broadcast sends f.Bytes to every other node of the PubSub; DirectBroadcast sends them to the node
//     named node only (never called with this node's own name). A node nobody runs receives nothing,
//     and that is not an error. f.Topic says which topic the frame carries (an adapter may route by
//     it); f.Bytes and f.Payload are valid only until the call returns.
//  3. Both may be called concurrently from many goroutines. Frames whose calls do not overlap must
//     reach every other node in the order of the calls; overlapping calls may be reordered by as many
//     frames as are in flight (receivers deliver reordered frames once each, and report true losses).
//  4. Both return nil once the transport has accepted the frame, or an error: an error returned before
//     the frame left this node means it was not sent; any later error (a timeout, a lost connection,
//     ctx ending while the frame was on the wire) means it may have been delivered. Both must return
//     once ctx ends, whatever the state of the transport.
//  5. A frame must reach each receiver at most once per send; the PubSub drops duplicates (a client
//     retry), but an adapter must not create them on purpose.
//  6. HandleFrame and HandleGap may be called from any goroutine and concurrently. HandleFrame never
//     blocks for long (deliveries go to bounded mailboxes); it returns nil, or why it dropped the
//     frame (the PubSub has counted and logged it already); it does not retain frame.
//  7. NodeName is constant and available before Start.
//  8. Close stops every goroutine the adapter started, releases what it holds, returns once they are
//     gone, and is bounded in time even when the transport is not answering. No Host method is called
//     after Close returns. One exception: a goroutine blocked in a call on something the program owns
//     and gave the adapter (a client of its own) may be abandoned by Close; it calls no Host method
//     again and ends when that call returns (the program's client answers, times out or is closed).
//
// pubsubtest checks adapters against these sentences (pubsubtest.RunAdapter) and the PubSub behaviour
// built on them (pubsubtest.Run).
//
// # Adapters that carry messages
//
// An adapter whose transport has its own message format (phoenix_pubsub_redis's Erlang terms, say)
// implements MessageCarrier too. The PubSub then never encodes frames for it: it calls Broadcast and
// DirectBroadcast with f.Bytes nil and the message in f.Topic, f.Dispatcher and f.Payload, and the
// adapter hands what it receives to host.HandleMessage. Such an adapter gives up what the envelope
// provides: no sequence numbers (so no loss detection beyond the adapter's own gaps, and no duplicate
// suppression), no signing (Config.Secrets is refused), no replay protection; self-delivery is skipped
// by node name. Its documentation must say so.
type Adapter interface {
	Start(ctx context.Context, host Host) error
	NodeName() string
	Broadcast(ctx context.Context, f Frame) error
	DirectBroadcast(ctx context.Context, node string, f Frame) error
	Close() error
}

// Frame is one message on its way to other nodes, as the PubSub hands it to its adapter.
type Frame struct {
	// Topic is the message's topic, so an adapter can route by it without parsing Bytes.
	Topic string
	// Bytes is the encoded, numbered and (with Config.Secrets) signed envelope to transmit unchanged.
	// Nil for a MessageCarrier.
	Bytes []byte
	// Dispatcher names the dispatcher the receiving nodes use ("" for the default), and Payload is the
	// value broadcast. Only a MessageCarrier needs them; the envelope in Bytes carries both.
	Dispatcher string
	Payload    any
	// Seal is set for an adapter that implements FrameSealer (and only then): Bytes is then the frame
	// before its number and signature, never to be sent as it is, and the adapter sends what
	// Seal.AppendSealed makes of it. Valid only until the call returns.
	Seal Sealer
}

// MessageCarrier is implemented by adapters whose transport carries messages in a format of its own
// rather than the PubSub's frames (see "Adapters that carry messages" in Adapter's documentation).
type MessageCarrier interface {
	Adapter
	// CarriesMessages reports whether the adapter carries messages (true) or frames (false).
	CarriesMessages() bool
}

// FrameLimit is implemented by adapters whose transport bounds the size of a frame (the Redis adapter:
// Config.MaxMessageSize). The PubSub then refuses a larger broadcast itself, with ErrTooLarge, before
// the frame is numbered: an adapter that refused it would leave a hole in the sender's stream, which
// every receiver would report as a lost frame.
type FrameLimit interface {
	// MaxFrameSize is the largest frame, in bytes, the adapter sends; constant, available before Start.
	MaxFrameSize() int
}

// LocalOnly is implemented by adapters that have no other nodes (localadapter). The PubSub then never
// encodes frames and never calls Broadcast or DirectBroadcast.
type LocalOnly interface {
	LocalOnly() bool
}

// Host is the PubSub as its adapter sees it. Its methods are safe for concurrent use.
type Host interface {
	// Name is the PubSub's Config.Name; adapters namespace their traffic with it.
	Name() string
	// Incarnation identifies this PubSub instance: random, new at every New. Frames carry it; an
	// adapter may use it to recognise its own liveness probes.
	Incarnation() [16]byte
	// Logger is the PubSub's logger.
	Logger() *slog.Logger
	// HandleFrame checks a frame from another node and delivers its message to the local subscribers
	// (see Adapter, "Who does what"). It returns nil (also for this node's own frames, which it skips),
	// or why the frame was dropped: an error wrapping ErrBadFrame, ErrUnknownDispatcher, ErrUnknownType
	// or ErrClosed. frame is not retained.
	HandleFrame(frame string) error
	// HandleMessage delivers a message a MessageCarrier received from another node. It returns nil, or
	// why the message was dropped (wrapping ErrBadFrame, ErrUnknownDispatcher or ErrClosed).
	HandleMessage(m RemoteMessage) error
	// HandleGap reports that messages from other nodes may have been lost in the transport (reason
	// says why). The PubSub announces a Gap to its local subscribers of GapTopic.
	HandleGap(reason error)
}

// RemoteMessage is a message a MessageCarrier received from another node.
type RemoteMessage struct {
	Origin     string // the sending node's name ("" if the transport does not name it); a message whose Origin is this node's name is skipped
	Target     string // the node a direct broadcast was sent to; "" for a broadcast to every node
	Topic      string
	Dispatcher string // "" for the default dispatcher
	Payload    any
}
