package pubsub

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// frameBuf is a reusable encoding buffer: one envelope and its payload, and the frame's Sealer for a
// FrameSealer adapter.
type frameBuf struct {
	frame   []byte
	payload bytes.Buffer
	enc     *msgpack.Encoder
	seal    sealer
}

var frameBufs = sync.Pool{New: func() any {
	b := &frameBuf{}
	b.enc = msgpack.NewEncoder(&b.payload)
	return b
}}

// maxPooledFrame keeps an occasional huge message from pinning its buffer in the pool.
const maxPooledFrame = 64 << 10

func (ps *PubSub) sendBroadcast(ctx context.Context, topic, dispatcher string, payload any) error {
	return ps.send(ctx, wire.KindBroadcast, "", topic, dispatcher, payload)
}

func (ps *PubSub) sendDirect(ctx context.Context, node, topic, dispatcher string, payload any) error {
	return ps.send(ctx, wire.KindDirect, node, topic, dispatcher, payload)
}

// send encodes one envelope, numbers it in its stream, signs it, and hands it to the adapter.
func (ps *PubSub) send(ctx context.Context, kind wire.Kind, target, topic, dispatcher string, payload any) error {
	f := Frame{Topic: topic, Dispatcher: dispatcher, Payload: payload}
	if ps.carrier {
		return ps.transmit(ctx, kind, target, f)
	}
	b := frameBufs.Get().(*frameBuf)
	defer func() {
		b.seal = sealer{} // do not keep the PubSub reachable from the pool
		if cap(b.frame) <= maxPooledFrame && b.payload.Cap() <= maxPooledFrame {
			frameBufs.Put(b)
		}
	}()
	env := wire.Envelope{
		Scope:       ps.name,
		Kind:        kind,
		Origin:      ps.nodeName,
		Incarnation: ps.incarnation,
		Target:      target,
		Topic:       topic,
		Dispatcher:  dispatcher,
	}
	switch p := payload.(type) {
	case []byte:
		env.PayloadType, env.Payload = wire.TypeBytes, p
	case string:
		// wire.Append only reads the payload, so the string's bytes can be lent without a copy.
		env.PayloadType, env.Payload = wire.TypeString, unsafe.Slice(unsafe.StringData(p), len(p))
	default:
		name := typeName(payload)
		if name == "" {
			if raw, ok := namedBytes(payload); ok { // json.RawMessage and its kind travel as bytes
				env.PayloadType, env.Payload = wire.TypeBytes, raw
				break
			}
			ps.warnUnregistered(payload)
		}
		b.payload.Reset()
		if err := b.enc.Encode(payload); err != nil {
			return fmt.Errorf("pubsub: encode %T payload: %w", payload, err)
		}
		env.PayloadType, env.Payload = name, b.payload.Bytes()
	}
	// Numbered last, just before the adapter queues the frame, so that frames of concurrent
	// broadcasters are rarely reordered between here and the wire (receivers tolerate it when they are),
	// or by the adapter as it takes the frame for the wire (FrameSealer), so that they never are.
	// The frame is sized before it is numbered: a frame the transport would refuse must not use up a
	// number, or every receiver would wait for it and report it lost.
	frame, err := wire.Append(b.frame[:0], &env, nil)
	if err != nil {
		return fmt.Errorf("pubsub: %w", err)
	}
	if size := len(frame) + macLen(ps.signingKey); ps.maxFrame > 0 && size > ps.maxFrame {
		b.frame = frame
		return fmt.Errorf("%w: the frame is %d bytes, the adapter takes at most %d", ErrTooLarge, size, ps.maxFrame)
	}
	b.frame = frame
	if ps.sealer {
		// The adapter numbers (and signs) the frame as it takes it for the wire: seal.go.
		b.seal = sealer{ps: ps, kind: kind, target: target, route: ps.routeOf(topic), frame: frame}
		f.Bytes, f.Seal = frame, &b.seal
		return ps.transmit(ctx, kind, target, f)
	}
	frame = ps.seal(frame, kind, target, ps.routeOf(topic))
	b.frame = frame
	f.Bytes = frame
	return ps.transmit(ctx, kind, target, f)
}

// macLen is what signing with key adds to a frame.
func macLen(key []byte) int {
	if key == nil {
		return 0
	}
	return wire.MACLen
}

func (ps *PubSub) transmit(ctx context.Context, kind wire.Kind, target string, f Frame) error {
	if kind == wire.KindDirect {
		return ps.adapter.DirectBroadcast(ctx, target, f)
	}
	return ps.adapter.Broadcast(ctx, f)
}

// warnUnregistered logs, once per type, that a payload of a type no RegisterType names is going to
// other nodes, where it arrives as an Encoded (not as its type): the rule of cross-node payloads that
// is easiest to miss.
func (ps *PubSub) warnUnregistered(payload any) {
	if payload == nil {
		return
	}
	t := reflect.TypeOf(payload)
	if _, warned := ps.warnedTypes.LoadOrStore(t, struct{}{}); warned {
		return
	}
	ps.log.Warn("pubsub: a payload type that is not registered is broadcast to other nodes: they receive it as pubsub.Encoded, not as its type; "+
		"register it on every node (pubsub.RegisterType), and read payloads with pubsub.As or Message.Decode",
		slog.String("pubsub", ps.name), slog.String("type", t.String()))
}
