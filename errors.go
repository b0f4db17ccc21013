package pubsub

import (
	"errors"
	"fmt"
)

// Errors returned by the package. Methods wrap them with %w and add detail, so test them with errors.Is.
var (
	// ErrClosed is returned by every call on a PubSub after Close.
	ErrClosed = errors.New("pubsub: closed")
	// ErrSubscriberClosed is returned by calls on a Subscriber after its Close (or its PubSub's). It
	// matches ErrClosed too (errors.Is), so one test answers "is it over?".
	ErrSubscriberClosed = ClosedError("pubsub: subscriber closed")
	// ErrSlowConsumer is why a subscriber with the CloseOnOverflow policy was closed: its mailbox
	// overflowed. It matches ErrSubscriberClosed and ErrClosed too (errors.Is).
	ErrSlowConsumer error = &closedError{msg: "pubsub: subscriber closed: slow consumer", parent: ErrSubscriberClosed}
	// ErrEmptyTopic is returned when a topic is the empty string.
	ErrEmptyTopic = errors.New("pubsub: empty topic")
	// ErrNilSubscriber is returned when a nil *Subscriber is passed where one is required.
	ErrNilSubscriber = errors.New("pubsub: nil subscriber")
	// ErrForeignSubscriber is returned when a Subscriber made by one PubSub is passed to another.
	ErrForeignSubscriber = errors.New("pubsub: subscriber belongs to another PubSub")
	// ErrUnknownDispatcher is returned by a broadcast naming a dispatcher that is not in Config.Dispatchers.
	ErrUnknownDispatcher = errors.New("pubsub: unknown dispatcher")
	// ErrInvalidConfig is returned by New (and adapters' constructors) for a configuration it cannot use.
	ErrInvalidConfig = errors.New("pubsub: invalid config")
	// ErrAdapterInUse is what an adapter's Start returns (wrapped) when it already serves a PubSub: an
	// adapter serves one PubSub. New then fails without closing the adapter, which is not its own.
	ErrAdapterInUse = errors.New("pubsub: adapter already serves a PubSub")
	// ErrReservedTopic is returned by every broadcast function for a topic the PubSub reserves for
	// itself (GapTopic).
	ErrReservedTopic = errors.New("pubsub: reserved topic")
	// ErrTooLarge is returned by a broadcast whose frame is larger than its adapter sends (FrameLimit).
	ErrTooLarge = errors.New("pubsub: message too large")
	// ErrEmptyNode is returned by DirectBroadcast when the node name is empty.
	ErrEmptyNode = errors.New("pubsub: empty node name")
	// ErrUnknownType is returned by Host.HandleFrame for a frame whose payload type name is not
	// registered on this node (see RegisterType).
	ErrUnknownType = errors.New("pubsub: unknown payload type")
	// ErrBadFrame is returned by Host.HandleFrame for a frame that is malformed, too large, of another
	// protocol version, or whose payload does not decode.
	ErrBadFrame = errors.New("pubsub: bad frame")
)

// closedError is an error that also matches ErrClosed with errors.Is: ErrSubscriberClosed, and other
// packages' "closed" sentinels (tracker.ErrClosed) through ClosedError.
type closedError struct {
	msg    string
	parent error // nil: ErrClosed
}

func (e *closedError) Error() string { return e.msg }
func (e *closedError) Unwrap() error {
	if e.parent != nil {
		return e.parent
	}
	return ErrClosed
}

// ClosedError returns a new sentinel error with text msg that matches ErrClosed with errors.Is, for
// packages built on a PubSub (tracker.ErrClosed is one), so that errors.Is(err, pubsub.ErrClosed)
// answers "is it over?" everywhere.
func ClosedError(msg string) error { return &closedError{msg: msg} }

// BroadcastError is the panic value of the Must… variants, like Phoenix's Phoenix.PubSub.BroadcastError.
// Err is the error the non-panicking call returned.
type BroadcastError struct {
	Op    string // "broadcast", "broadcast_from" or "direct_broadcast"
	Topic string
	Err   error
}

func (e *BroadcastError) Error() string {
	return fmt.Sprintf("pubsub: %s to %q failed: %v", e.Op, e.Topic, e.Err)
}

// Unwrap returns the underlying error.
func (e *BroadcastError) Unwrap() error { return e.Err }
