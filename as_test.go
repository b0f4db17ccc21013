package pubsub_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/phxgo/pubsub"
)

type notRegistered struct {
	ID   int
	Name string
}

// As reads a payload of a known type whatever its origin: the value itself locally, and an
// unregistered struct from another node (an Encoded) decoded into the type.
func TestAsWorksOnEveryNode(t *testing.T) {
	nodes, _ := cluster(t, 2, pubsub.Config{})
	local, remote := subscribe(t, nodes[0], "t"), subscribe(t, nodes[1], "t")
	want := notRegistered{ID: 7, Name: "seven"}
	if err := nodes[0].Broadcast(ctx, "t", want); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*pubsub.Subscriber{"local": local, "remote": remote} {
		got, err := pubsub.As[notRegistered](receive(t, s))
		if err != nil || got != want {
			t.Errorf("%s: As = %+v, %v; want %+v", name, got, err, want)
		}
	}
	if _, err := pubsub.As[int](pubsub.Message{Topic: "t", Payload: "text"}); err == nil {
		t.Error("As[int] of a string: no error")
	}
}

// Named byte types (json.RawMessage) travel as bytes and arrive as []byte.
func TestNamedBytesTravelAsBytes(t *testing.T) {
	nodes, _ := cluster(t, 2, pubsub.Config{})
	s := subscribe(t, nodes[1], "t")
	if err := nodes[0].Broadcast(ctx, "t", json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	got, ok := receive(t, s).Payload.([]byte)
	if !ok || !bytes.Equal(got, []byte(`{"a":1}`)) {
		t.Fatalf("json.RawMessage arrived as %#v", got)
	}
}

// Broadcasting an unregistered type to other nodes warns once per type, saying what to do.
func TestUnregisteredTypeWarnsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		testUnregisteredTypeWarnsOnce(t)
	})
}

func testUnregisteredTypeWarnsOnce(t *testing.T) {
	var buf bytes.Buffer
	nodes, _ := cluster(t, 2, pubsub.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for range 3 {
		nodes[0].Broadcast(ctx, "t", notRegistered{ID: 1})
	}
	nodes[0].Broadcast(ctx, "t", remoteUpdate{ID: 1}) // registered: no warning
	nodes[0].Broadcast(ctx, "t", []byte("x"))         // bytes: no warning
	synctest.Wait()                                   // the receiving node, which logs to buf too, is done
	if n := strings.Count(buf.String(), "not registered"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "pubsub_test.notRegistered") || !strings.Contains(buf.String(), "RegisterType") {
		t.Errorf("the warning does not name the type and the fix:\n%s", buf.String())
	}
}
