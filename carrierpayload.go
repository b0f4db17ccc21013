package pubsub

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// MarshalPayload returns what the PubSub's own frames carry for payload: its type's name (the name its
// type is registered under with RegisterType, "[]byte" or "string" for those, "" for an unregistered
// type) and its encoding. It is for adapters that carry messages (MessageCarrier) in a format that
// cannot express a Go value, to carry it opaquely; UnmarshalPayload on the receiving node turns it
// back into the same value.
func MarshalPayload(payload any) (name string, data []byte, err error) {
	switch p := payload.(type) {
	case []byte:
		return wire.TypeBytes, p, nil
	case string:
		return wire.TypeString, []byte(p), nil
	}
	name = typeName(payload)
	if name == "" {
		if raw, ok := namedBytes(payload); ok {
			return wire.TypeBytes, raw, nil
		}
	}
	b, err := msgpack.Marshal(payload)
	if err != nil {
		return "", nil, fmt.Errorf("pubsub: encode %T payload: %w", payload, err)
	}
	return name, b, nil
}

// UnmarshalPayload returns the value that MarshalPayload encoded on another node: a value of the type
// registered under typeName, a []byte or a string, or an Encoded for an unregistered type. The
// encoding is checked (bounded lengths and depth) before it is decoded; errors wrap ErrBadFrame or
// ErrUnknownType.
func UnmarshalPayload(typeName string, data []byte) (any, error) {
	return decodePayload(typeName, string(data))
}
