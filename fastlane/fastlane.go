package fastlane

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/phxgo/pubsub"
)

// Name is the name the examples and the command line register a Dispatcher under in
// pubsub.Config.Dispatchers. Any name works, provided every node uses the same one.
const Name = "fastlane"

// ErrEncodedPayload is returned by JSONEncoder for a message from another node whose payload type was
// not registered (a pubsub.Encoded). Register the type on every node with pubsub.RegisterType.
var ErrEncodedPayload = errors.New("fastlane: payload type is not registered")

// FrameWriter takes the encoded frames of one connection: a websocket, a server-sent events stream, a
// test's channel.
//
// WriteFrame must not block and must be safe for concurrent use: it queues frame (typically in a bounded
// channel that the connection's own goroutine drains, see ChanWriter) and returns true, or drops it and
// returns false when the connection cannot keep up. frame is shared with every other writer of the same
// broadcast: it must never be modified, and it may be kept (it is not reused). WriteFrame must not
// panic: a panic reaches the broadcaster.
//
// A dispatch works on a copy of the topic's subscriptions, so WriteFrame may still be called shortly
// after the subscription is gone (Unsubscribe or Close returned) by a broadcast already under way. Never
// close a channel WriteFrame sends on; end a connection with a done channel or flag instead.
type FrameWriter interface {
	WriteFrame(frame []byte) bool
}

// Metadata is subscription metadata that sends a subscription's fastlane broadcasts to Writer as encoded
// frames instead of to the subscriber's mailbox: Phoenix's {:fastlane, transport_pid, serializer, …}.
// Attach it with WithWriter(w), or with pubsub.WithMetadata(Metadata{Writer: w}); a *Metadata works
// too. A nil Writer (or a nil *Metadata) receives nothing: the entry is skipped and counted in
// Stats.NilWriters. The zero value is such an entry.
type Metadata struct {
	Writer FrameWriter
}

// WithWriter is the subscribe option that attaches Metadata{Writer: w} as the subscription's metadata.
func WithWriter(w FrameWriter) pubsub.SubscribeOption {
	return pubsub.WithMetadata(Metadata{Writer: w})
}

// Encoder turns a message into the frame written to fastlane connections. It is called at most once per
// dispatch, on the dispatching goroutine, possibly concurrently for different broadcasts; it must not
// block, and must not keep or modify msg.Payload (payloads are shared and immutable once broadcast).
// The frame it returns is handed to every writer and never modified afterwards.
type Encoder func(msg pubsub.Message) ([]byte, error)

// JSONEncoder is the default Encoder: the JSON object {"topic": msg.Topic, "payload": msg.Payload},
// with the payload marshalled by encoding/json (so its json tags apply, and a []byte payload becomes a
// base64 string; use json.RawMessage for a payload that is JSON already). The topic is included because
// one connection usually joins several topics. A pubsub.Encoded payload (from another node, of a type
// not registered) is not guessed at: JSONEncoder returns ErrEncodedPayload.
func JSONEncoder(msg pubsub.Message) ([]byte, error) {
	if e, ok := msg.Payload.(pubsub.Encoded); ok {
		return nil, fmt.Errorf("%w: %d msgpack bytes on topic %q", ErrEncodedPayload, len(e.Data), msg.Topic)
	}
	return json.Marshal(jsonFrame{Topic: msg.Topic, Payload: msg.Payload})
}

type jsonFrame struct {
	Topic   string `json:"topic"`
	Payload any    `json:"payload"`
}

// Dispatcher is Phoenix.Channel.Server's fastlane as a pubsub.Dispatcher: it encodes each
// broadcast once and writes the same frame to the FrameWriter of every entry with fastlane metadata,
// skipping the sender's entries; entries without fastlane metadata get the message in their mailbox
// (Subscriber.Deliver). Register it in pubsub.Config.Dispatchers (as Name, say) and broadcast
// with pubsub.WithDispatcher.
//
// The zero value is ready to use, with JSONEncoder. Set the fields before the PubSub starts and do not
// change them afterwards; do not copy a Dispatcher after first use. Dispatch never blocks unless
// the Encoder or a writer does, and is safe for concurrent use.
type Dispatcher struct {
	// Encoder encodes each broadcast for the writers. Nil means JSONEncoder.
	Encoder Encoder

	// OnEncodeError, when set, is called with the message and the error each time Encoder fails (or
	// panics, which is recovered and reported as an error). The fastlane entries of that dispatch
	// receive nothing; mailbox entries are unaffected. It runs on the dispatching goroutine and must not
	// block. Nil means the error is only counted (Stats.EncodeErrors).
	OnEncodeError func(msg pubsub.Message, err error)

	encodes      atomic.Uint64
	encodeErrors atomic.Uint64
	writes       atomic.Uint64
	drops        atomic.Uint64
	nilWriters   atomic.Uint64
}

// Stats are a Dispatcher's counters since it was made. Each field only grows.
type Stats struct {
	Encodes      uint64 // Encoder calls: one per dispatch that met a fastlane entry other than the sender's
	EncodeErrors uint64 // Encoder calls that failed or panicked (included in Encodes)
	Writes       uint64 // frames a FrameWriter accepted (WriteFrame returned true)
	Drops        uint64 // frames a FrameWriter dropped (WriteFrame returned false)
	NilWriters   uint64 // fastlane entries skipped because their Writer was nil
}

// Stats returns the dispatcher's counters. It is safe to call at any time; the fields are read one by
// one, so a snapshot taken during dispatches may be mid-way through one.
func (d *Dispatcher) Stats() Stats {
	return Stats{
		Encodes:      d.encodes.Load(),
		EncodeErrors: d.encodeErrors.Load(),
		Writes:       d.writes.Load(),
		Drops:        d.drops.Load(),
		NilWriters:   d.nilWriters.Load(),
	}
}

// Dispatch implements pubsub.Dispatcher: see Dispatcher. It skips every entry of from (nil
// skips none), encodes msg at most once, and never panics on an encode error.
func (d *Dispatcher) Dispatch(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
	var (
		frame                     []byte
		encoded, failed           bool
		writes, drops, nilWriters uint64
	)
	for i := range entries {
		e := &entries[i]
		if e.Subscriber == from {
			continue
		}
		w, fastlane := writerOf(e.Metadata)
		switch {
		case !fastlane:
			e.Subscriber.Deliver(msg)
			continue
		case w == nil:
			nilWriters++
			continue
		case !encoded:
			encoded = true
			var err error
			if frame, err = d.encode(msg); err != nil {
				failed = true
				d.encodeErrors.Add(1)
				if d.OnEncodeError != nil {
					d.OnEncodeError(msg, err)
				}
			}
		}
		if failed {
			continue
		}
		if w.WriteFrame(frame) {
			writes++
		} else {
			drops++
		}
	}
	// One atomic add per counter and dispatch, not per entry: writers of a large topic would otherwise
	// fight over the counters' cache line with every concurrent broadcast.
	if writes > 0 {
		d.writes.Add(writes)
	}
	if drops > 0 {
		d.drops.Add(drops)
	}
	if nilWriters > 0 {
		d.nilWriters.Add(nilWriters)
	}
}

// encode runs the Encoder, turning a panic into an error.
func (d *Dispatcher) encode(msg pubsub.Message) (frame []byte, err error) {
	d.encodes.Add(1)
	enc := d.Encoder
	if enc == nil {
		enc = JSONEncoder
	}
	defer func() {
		if v := recover(); v != nil {
			frame, err = nil, fmt.Errorf("fastlane: fastlane encoder panicked: %v", v)
		}
	}()
	return enc(msg)
}

// writerOf reports whether metadata is fastlane metadata, and its writer.
func writerOf(metadata any) (FrameWriter, bool) {
	switch m := metadata.(type) {
	case Metadata:
		return m.Writer, true
	case *Metadata:
		if m == nil {
			return nil, true
		}
		return m.Writer, true
	}
	return nil, false
}

var _ pubsub.Dispatcher = (*Dispatcher)(nil)
