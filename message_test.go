package pubsub_test

import (
	"strings"
	"testing"

	"github.com/phxgo/pubsub"
)

type point struct {
	X, Y int
}

func TestMessageDecode(t *testing.T) {
	var p point
	if err := (pubsub.Message{Payload: point{1, 2}}).Decode(&p); err != nil || p != (point{1, 2}) {
		t.Fatalf("same type: %v %+v", err, p)
	}
	if err := (pubsub.Message{Payload: map[string]any{"X": 3, "Y": 4}}).Decode(&p); err != nil || p != (point{3, 4}) {
		t.Fatalf("map into struct: %v %+v", err, p)
	}
	var n int64
	if err := (pubsub.Message{Payload: int8(7)}).Decode(&n); err != nil || n != 7 {
		t.Fatalf("int8 into int64: %v %d", err, n)
	}
	var anyV any
	if err := (pubsub.Message{Payload: "s"}).Decode(&anyV); err != nil || anyV != "s" {
		t.Fatalf("into any: %v %v", err, anyV)
	}
	p = point{9, 9}
	if err := (pubsub.Message{}).Decode(&p); err != nil || p != (point{}) {
		t.Fatalf("nil payload zeroes: %v %+v", err, p)
	}
	for name, v := range map[string]any{"nil": nil, "non-pointer": p, "nil pointer": (*point)(nil)} {
		if err := (pubsub.Message{Payload: 1}).Decode(v); err == nil || !strings.Contains(err.Error(), "non-nil pointer") {
			t.Errorf("%s target: err = %v", name, err)
		}
	}
	if err := (pubsub.Message{Payload: "not a point"}).Decode(&p); err == nil {
		t.Error("string into struct: no error")
	}
}

type regA struct{ A int }
type regB struct{ B int }

func TestRegisterType(t *testing.T) {
	if err := pubsub.RegisterType[regA]("pubsub_test.regA"); err != nil {
		t.Fatal(err)
	}
	if err := pubsub.RegisterType[regA]("pubsub_test.regA"); err != nil {
		t.Fatalf("same pair again: %v", err)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{pubsub.RegisterType[regB]("pubsub_test.regA"), "already registered for"},
		{pubsub.RegisterType[regA]("pubsub_test.other"), "already registered as"},
		{pubsub.RegisterType[regB](""), "empty name"},
		{pubsub.RegisterType[regB](strings.Repeat("x", 256)), "more than 255"},
		{pubsub.RegisterType[regB]("[]byte"), "built-in"},
		{pubsub.RegisterType[regB]("string"), "built-in"},
		{pubsub.RegisterType[error]("pubsub_test.error"), "interface"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("err = %v, want one mentioning %q", tc.err, tc.want)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustRegisterType did not panic on a conflict")
			}
		}()
		pubsub.MustRegisterType[regB]("pubsub_test.regA")
	}()
}
