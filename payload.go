package pubsub

import (
	"fmt"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// Payloads between nodes: []byte and string travel as themselves (and named byte types as bytes),
// registered types as msgpack under their name, anything else as msgpack without a name.

// msgpackNil is msgpack's encoding of nil: a nil payload arrives as nil.
const msgpackNil = "\xc0"

// maxPayloadDepth bounds the nesting of msgpack payloads from other nodes (msgpack's decoder recurses).
const maxPayloadDepth = wire.DefaultMaxDepth

// namedBytes returns the bytes of a payload whose type is a named []byte (json.RawMessage, say): such
// payloads travel as bytes and arrive as []byte.
func namedBytes(payload any) ([]byte, bool) {
	v := reflect.ValueOf(payload)
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
		return v.Bytes(), true
	}
	return nil, false
}

// decodePayload turns a payload from the wire back into a Go value: a registered type's value, a []byte
// or string for the built-in names, and an Encoded for an unregistered value. The msgpack bytes are
// checked for bounded lengths and depth before msgpack sees them.
func decodePayload(typeName, data string) (any, error) {
	switch typeName {
	case wire.TypeBytes:
		return []byte(data), nil
	case wire.TypeString:
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
