package phoenixadapter

import (
	"errors"
	"fmt"

	"github.com/phxgo/pubsub/internal/etf"
)

// Frame is one phoenix_pubsub_redis 3 frame, {3, mode, node, topic, message, dispatcher}, decoded.
type Frame struct {
	// Direct is true for mode :only (direct_broadcast: Node is the target), false for :except
	// (broadcast and broadcast_from: Node is the sender).
	Direct bool
	// Node is the node the frame names, as an atom; NodeIsAtom is false when it is not an atom (no
	// Phoenix node then matches it).
	Node       string
	NodeIsAtom bool
	Topic      string
	// Payload is the message as a Go value (see the package documentation), a SocketBroadcast for a
	// %Phoenix.Socket.Broadcast{}.
	Payload any
	// Dispatcher is the dispatcher module's atom: PubSubDispatcher, ChannelServerDispatcher, or another.
	Dispatcher string
}

// ErrNotAFrame is returned by DecodeFrame for a term that is not a phoenix_pubsub_redis 3 frame with
// a binary topic (another version, another shape). Phoenix ignores such terms.
var ErrNotAFrame = errors.New("phoenixadapter: not a phoenix_pubsub_redis 3 frame")

// DecodeFrame decodes one message of a Phoenix PubSub's Redis channel, bounded by maxSize bytes (0
// means DefaultMaxMessageSize; also the bound on a compressed frame's inflated size). Errors wrap
// ErrNotAFrame for a term of another shape, or one of package etf's decoding errors for bytes that
// are not a term within the limits (what a Phoenix node would crash on).
func DecodeFrame(b string, maxSize int) (Frame, error) {
	v, err := etf.DecodeString(b, etf.Limits{MaxSize: maxSize})
	if err != nil {
		return Frame{}, err
	}
	return frameOf(v)
}

func frameOf(v any) (Frame, error) {
	var f Frame
	t, ok := v.(etf.Tuple)
	if !ok || len(t) != 6 || t[0] != int64(3) {
		return f, ErrNotAFrame
	}
	switch t[1] {
	case Atom("except"):
	case Atom("only"):
		f.Direct = true
	default:
		return f, fmt.Errorf("%w: mode %v", ErrNotAFrame, t[1])
	}
	if node, ok := t[2].(Atom); ok {
		f.Node, f.NodeIsAtom = string(node), true
	}
	if f.Topic, ok = t[3].(string); !ok {
		return f, fmt.Errorf("%w: a topic that is not a binary (%T)", ErrNotAFrame, t[3])
	}
	mod, ok := t[5].(Atom)
	if !ok {
		return f, fmt.Errorf("%w: a dispatcher that is not an atom (%T)", ErrNotAFrame, t[5])
	}
	f.Dispatcher, f.Payload = string(mod), fromElixir(t[4])
	return f, nil
}
