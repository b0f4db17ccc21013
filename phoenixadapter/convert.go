package phoenixadapter

import (
	"fmt"
	"math/big"
	"reflect"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
)

// toElixir turns the Go values that have an Elixir struct counterpart into their terms: a
// SocketBroadcast payload into %Phoenix.Socket.Broadcast{}. Everything else goes to the encoder as it is.
func toElixir(v any) any {
	switch b := v.(type) {
	case SocketBroadcast:
		return broadcastTerm(b)
	case *SocketBroadcast:
		if b != nil {
			return broadcastTerm(*b)
		}
	}
	return v
}

// broadcastTerm is %Phoenix.Socket.Broadcast{}: a map with atom keys in term order, as Elixir writes it.
func broadcastTerm(b SocketBroadcast) etf.Map {
	return etf.Map{
		{Key: rawStruct, Value: rawBroadcast},
		{Key: rawEvent, Value: b.Event},
		{Key: rawPayload, Value: b.Payload},
		{Key: rawTopic, Value: b.Topic},
	}
}

// fromElixir turns a received %Phoenix.Socket.Broadcast{} into a SocketBroadcast; other values stay as
// the codec decoded them.
func fromElixir(v any) any {
	m, ok := v.(etf.Map)
	if !ok || len(m) != 4 {
		return v
	}
	if s, _ := m.Get(Atom("__struct__")); s != Atom("Elixir.Phoenix.Socket.Broadcast") {
		return v
	}
	topic, ok1 := get[string](m, "topic")
	event, ok2 := get[string](m, "event")
	payload, ok3 := m.Get(Atom("payload"))
	if !ok1 || !ok2 || !ok3 {
		return v
	}
	return SocketBroadcast{Topic: topic, Event: event, Payload: payload}
}

func get[T any](m etf.Map, key Atom) (T, bool) {
	v, ok := m.Get(key)
	t, ok2 := v.(T)
	return t, ok && ok2
}

// goPayload is v carried opaquely: {:phxgo_payload, type name, msgpack} (Config.GoPayloads).
func goPayload(v any) (etf.Tuple, error) {
	name, data, err := pubsub.MarshalPayload(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnencodable, err)
	}
	return etf.Tuple{rawGoPayload, name, data}, nil
}

// fromGoPayload returns the Go value of {:phxgo_payload, type name, msgpack}, or ok false when v is
// not such a tuple.
func fromGoPayload(v any) (any, bool, error) {
	if t, ok := v.(Term); ok && t.mayBeGoPayload() {
		var err error
		if v, err = t.Value(); err != nil {
			return nil, true, err
		}
	}
	t, isTuple := v.(etf.Tuple)
	if !isTuple || len(t) != 3 || t[0] != Atom(goPayloadTag) {
		return nil, false, nil
	}
	name, ok1 := t[1].(string)
	data, ok2 := t[2].(string)
	if !ok1 || !ok2 {
		return nil, true, fmt.Errorf("a %s tuple of %T and %T", goPayloadTag, t[1], t[2])
	}
	p, err := pubsub.UnmarshalPayload(name, []byte(data))
	return p, true, err
}

// isStruct reports whether v is a struct or a pointer to one, other than those of the type mapping.
func isStruct(v any) bool {
	switch v.(type) {
	case SocketBroadcast, *SocketBroadcast, Pid, Ref, BitBinary, ImproperList, big.Int, *big.Int:
		return false
	}
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.Kind() == reflect.Struct
}
