package phoenixadapter_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// FuzzDecodeFrame: no input panics, and every input is a frame, a term that is not a frame
// (ErrNotAFrame), or an error of the codec.
func FuzzDecodeFrame(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.hex"))
	if len(files) == 0 {
		f.Fatal("no golden frames in " + goldenDir)
	}
	for _, name := range files {
		f.Add(string(golden(f, filepath.Base(name[:len(name)-len(".hex")]))))
	}
	f.Fuzz(func(t *testing.T, b string) {
		fr, err := phoenixadapter.DecodeFrame(b, 1<<20)
		if err == nil && fr.Dispatcher == "" {
			t.Fatalf("a frame without a dispatcher: %+v", fr)
		}
		if errors.Is(err, phoenixadapter.ErrNotAFrame) && fr.Topic != "" && fr.Payload != nil {
			t.Fatalf("not a frame, but a payload: %+v", fr)
		}
	})
}

// FuzzPublishesOnlyFrames: whatever value a program broadcasts, the adapter publishes a well-formed
// frame that decodes to that value, or nothing. The values are the terms the fuzzer's bytes decode to
// (every shape the codec knows), broadcast by a Go node and read back from Redis.
func FuzzPublishesOnlyFrames(f *testing.F) {
	for _, name := range []string{"pubsub_broadcast_map", "pubsub_broadcast_erlang_terms", "pubsub_compressed6_big_map", "tracker_heartbeat_delta_2_joins"} {
		f.Add(string(golden(f, name)))
	}
	_, url := miniURL(f)
	raw := newRawSubscriber(f, url, channel)
	ps, _ := newNode(f, phoenixadapter.Config{URL: url, NodeName: "fuzz@h", Atoms: []string{"user_joined", "Elixir.Some.Module", "pub", "heartbeat", "a@127.0.0.1", "except"}}, pubsub.Config{})
	f.Fuzz(func(t *testing.T, b string) {
		fr, err := phoenixadapter.DecodeFrame(b, 1<<20)
		if err != nil {
			return
		}
		if err := ps.Broadcast(ctx, "t", fr.Payload); err != nil {
			if !errors.Is(err, phoenixadapter.ErrUnencodable) {
				t.Fatalf("Broadcast(%#v): %v", fr.Payload, err)
			}
			return // refused: nothing was published
		}
		back, err := phoenixadapter.DecodeFrame(string(raw.next(t)), 0)
		if err != nil || back.Topic != "t" || !reflect.DeepEqual(back.Payload, fr.Payload) {
			t.Fatalf("published %+v, %v; want the payload %#v", back, err, fr.Payload)
		}
	})
}
