package pubsub

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// msgpackNil is msgpack's encoding of nil: a nil payload arrives as nil.
const msgpackNil = "\xc0"

// maxPayloadDepth bounds the nesting of msgpack payloads from other nodes (msgpack's decoder recurses).
const maxPayloadDepth = wire.DefaultMaxDepth

// frameLimits bounds frames from other nodes before anything is decoded: the format's hard caps. The
// adapter enforces its own, configurable, frame size (redisadapter.Config.MaxMessageSize) before it
// hands a frame over, so that raising it there is enough.
var frameLimits = wire.Limits{MaxFrame: wire.MaxFrameLen}

// frameBuf is a reusable encoding buffer: one envelope and its payload.
type frameBuf struct {
	frame   []byte
	payload bytes.Buffer
	enc     *msgpack.Encoder
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
		env.PayloadType, env.Payload = TypeBytes, p
	case string:
		// wire.Append only reads the payload, so the string's bytes can be lent without a copy.
		env.PayloadType, env.Payload = TypeString, unsafe.Slice(unsafe.StringData(p), len(p))
	default:
		name := typeName(payload)
		if name == "" {
			if raw, ok := namedBytes(payload); ok { // json.RawMessage and its kind travel as bytes
				env.PayloadType, env.Payload = TypeBytes, raw
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
	// broadcasters are rarely reordered between here and the wire (receivers tolerate it when they are).
	env.Seq = ps.out.next(kind, target)
	env.Time = time.Now().UnixMilli()
	frame, err := wire.Append(b.frame[:0], &env, ps.signingKey)
	if err != nil {
		return fmt.Errorf("pubsub: %w", err)
	}
	b.frame = frame
	f.Bytes = frame
	return ps.transmit(ctx, kind, target, f)
}

func (ps *PubSub) transmit(ctx context.Context, kind wire.Kind, target string, f Frame) error {
	if kind == wire.KindDirect {
		return ps.adapter.DirectBroadcast(ctx, target, f)
	}
	return ps.adapter.Broadcast(ctx, f)
}

// namedBytes returns the bytes of a payload whose type is a named []byte (json.RawMessage, say): such
// payloads travel as bytes and arrive as []byte.
func namedBytes(payload any) ([]byte, bool) {
	v := reflect.ValueOf(payload)
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
		return v.Bytes(), true
	}
	return nil, false
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

// decodePayload turns a payload from the wire back into a Go value: a registered type's value, a []byte
// or string for the built-in names, and an Encoded for an unregistered value. The msgpack bytes are
// checked for bounded lengths and depth before msgpack sees them.
func decodePayload(typeName, data string) (any, error) {
	switch typeName {
	case TypeBytes:
		return []byte(data), nil
	case TypeString:
		return data, nil
	}
	if err := wire.CheckMsgpackString(data, maxPayloadDepth); err != nil {
		return nil, fmt.Errorf("%w: payload of type %q: %w", ErrBadFrame, typeName, err)
	}
	if typeName == "" {
		if data == msgpackNil {
			return nil, nil
		}
		return Encoded{Data: []byte(data)}, nil
	}
	t, ok := registeredType(typeName)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, typeName)
	}
	v := reflect.New(t)
	if err := msgpack.Unmarshal([]byte(data), v.Interface()); err != nil {
		return nil, fmt.Errorf("%w: payload of type %q: %w", ErrBadFrame, typeName, err)
	}
	return v.Elem().Interface(), nil
}
