package pubsub

import (
	"fmt"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// Message is what a subscriber receives: the topic it was broadcast on and the payload.
//
// A message broadcast on this node carries the broadcaster's value itself (not a copy: treat payloads as
// immutable once broadcast). One from another node carries a value of the same Go type when the type is
// registered with RegisterType (on both nodes), a []byte or string as itself, an unregistered value
// as an Encoded holding its msgpack bytes (nil as nil). Decode works whatever the origin.
type Message struct {
	Topic   string
	Payload any
}

// As returns m's payload as a T: the payload itself when it is a T (any local broadcast, or a registered
// type, []byte or string from another node), otherwise what Message.Decode makes of it, so that an
// unregistered struct from another node (an Encoded) still arrives as a T. Read payloads with As rather
// than a type assertion, which fails on other nodes for types that are not registered.
func As[T any](m Message) (T, error) {
	if v, ok := m.Payload.(T); ok {
		return v, nil
	}
	var v T
	err := m.Decode(&v)
	return v, err
}

// Decode stores the payload in the value v points to. When the payload's type is assignable to *v it is
// assigned (no copy of its contents); a PayloadDecoder (a transport's undecoded payload) decodes itself
// into v; otherwise it is converted through msgpack, so a map can fill a struct and an Encoded from
// another node decodes into any type that matches its shape. It returns an error when v is not a
// non-nil pointer or the payload does not fit.
func (m Message) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("pubsub: Decode needs a non-nil pointer, got %T", v)
	}
	elem := rv.Elem()
	switch p := m.Payload.(type) {
	case nil:
		elem.SetZero()
		return nil
	case Encoded:
		if err := msgpack.Unmarshal(p.Data, v); err != nil {
			return fmt.Errorf("pubsub: decode unregistered payload into %T: %w", v, err)
		}
		return nil
	}
	pv := reflect.ValueOf(m.Payload)
	if pv.Type().AssignableTo(elem.Type()) {
		elem.Set(pv)
		return nil
	}
	if d, ok := m.Payload.(PayloadDecoder); ok {
		return d.DecodePayload(v)
	}
	b, err := msgpack.Marshal(m.Payload)
	if err != nil {
		return fmt.Errorf("pubsub: decode %T payload into %T: %w", m.Payload, v, err)
	}
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("pubsub: decode %T payload into %T: %w", m.Payload, v, err)
	}
	return nil
}

// PayloadDecoder is a payload that a transport delivers undecoded (phoenixadapter.Term, with
// phoenixadapter.Config.TermPayloads): Message.Decode and As hand it the destination, and it decodes
// itself straight into it (a struct, say) without building an intermediate value.
type PayloadDecoder interface {
	DecodePayload(v any) error
}
