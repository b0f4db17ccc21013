package pubsub_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/phxgo/pubsub"
)

func TestMarshalPayload(t *testing.T) {
	type unregistered struct{ A int }
	for _, v := range []any{remoteUpdate{ID: 7}, []byte("b"), "s", nil} {
		name, data, err := pubsub.MarshalPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pubsub.UnmarshalPayload(name, data)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%#v came back as %#v, %v", v, got, err)
		}
	}
	name, data, _ := pubsub.MarshalPayload(unregistered{A: 1})
	got, err := pubsub.UnmarshalPayload(name, data)
	if _, ok := got.(pubsub.Encoded); !ok || err != nil || name != "" {
		t.Errorf("an unregistered type came back as %#v, %v (name %q)", got, err, name)
	}
	if _, err := pubsub.UnmarshalPayload("no such type", []byte{0xc0}); !errors.Is(err, pubsub.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := pubsub.UnmarshalPayload("", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}); !errors.Is(err, pubsub.ErrBadFrame) {
		t.Errorf("a 4G msgpack array: %v", err)
	}
}
