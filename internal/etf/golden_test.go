package etf

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// goldenDir is the frames a real Elixir node published (../shared/interop/golden beside the checkout).
const goldenDir = "../../../shared/interop/golden"

type golden struct {
	dir, name string
	frame     []byte
}

func goldenFrames(t testing.TB) []golden {
	t.Helper()
	out, err := readGolden()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readGolden reads every golden frame: the top level, elixir118, otp26 and from_go.
func readGolden() ([]golden, error) {
	var out []golden
	for _, dir := range []string{"", "elixir118", "otp26", "from_go"} {
		files, err := filepath.Glob(filepath.Join(goldenDir, dir, "*.hex"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, golden{dir: dir, name: strings.TrimSuffix(filepath.Base(f), ".hex"), frame: b})
		}
	}
	if len(out) < 60 {
		return nil, fmt.Errorf("found %d golden frames in %s, want the 65 of ../shared/interop/golden", len(out), goldenDir)
	}
	return out, nil
}

// Every golden frame decodes, and re-encodes to the same bytes where Elixir's encoding is
// deterministic: everything but the zlib stream of a compressed frame (zlib versions differ), whose
// inflated term is compared instead.
func TestGoldenRoundTrip(t *testing.T) {
	for _, g := range goldenFrames(t) {
		t.Run(g.dir+"/"+g.name, func(t *testing.T) {
			v, err := Decode(g.frame, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := g.frame
			if g.frame[1] == tagCompressed {
				inflated, release, err := inflate(g.frame[2:], DefaultMaxSize)
				if err != nil {
					t.Fatal(err)
				}
				want = append([]byte{version}, inflated...)
				release()
			}
			enc := Encoder{LegacyAtoms: g.dir != "otp26" && g.dir != "from_go"}
			got, err := enc.Append(nil, v)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if g.dir == "from_go" {
				// another encoder's choices: the decoded term must survive a round trip
				back, err := Decode(got, Limits{})
				if err != nil || !reflect.DeepEqual(back, v) {
					t.Fatalf("round trip: %v\n got %#v\nwant %#v", err, back, v)
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("re-encoded differently\n got %x\nwant %x", got, want)
			}
		})
	}
}

func goldenFrame(t *testing.T, dir, name string) []byte {
	t.Helper()
	for _, g := range goldenFrames(t) {
		if g.dir == dir && g.name == name {
			return g.frame
		}
	}
	t.Fatalf("no golden frame %s/%s", dir, name)
	return nil
}

func frame(mode Atom, node Atom, topic string, msg any, dispatcher Atom) Tuple {
	return Tuple{int64(3), mode, node, topic, msg, dispatcher}
}

// The decoded values of the frames that show each part of the type mapping.
func TestGoldenValues(t *testing.T) {
	const a = Atom("a@127.0.0.1")
	const pubsub = Atom("Elixir.Phoenix.PubSub")
	rows := make([]any, 50)
	for i := range rows {
		rows[i] = map[string]any{"id": int64(i + 1), "name": "user", "status": "online"}
	}
	bcast := Map{
		{Atom("__struct__"), Atom("Elixir.Phoenix.Socket.Broadcast")},
		{Atom("event"), "new_msg"},
		{Atom("payload"), map[string]any{"body": "hi"}},
		{Atom("topic"), "room:lobby"},
	}
	tests := []struct {
		name string
		want any
	}{
		{"pubsub_broadcast_string", frame("except", a, "room:lobby", "hello", pubsub)},
		{"pubsub_broadcast_from", frame("except", a, "room:lobby", "hello", pubsub)},
		{"pubsub_direct_broadcast_other", frame("only", "b@127.0.0.1", "room:lobby", "hello b", pubsub)},
		{"pubsub_broadcast_socket_broadcast_channel_server", frame("except", a, "room:lobby", bcast, "Elixir.Phoenix.Channel.Server")},
		{"pubsub_broadcast_socket_broadcast_default_dispatcher", frame("except", a, "room:lobby", bcast, pubsub)},
		{"pubsub_compressed6_big_map", frame("except", a, "room:lobby", map[string]any{"rows": rows}, pubsub)},
	}
	for _, dir := range []string{"", "otp26"} {
		for _, tt := range tests {
			got, err := Decode(goldenFrame(t, dir, tt.name), Limits{})
			if err != nil {
				t.Fatalf("%s/%s: %v", dir, tt.name, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s/%s:\n got %#v\nwant %#v", dir, tt.name, got, tt.want)
			}
		}
	}
}

func TestGoldenMapAndErlangTerms(t *testing.T) {
	v, err := Decode(goldenFrame(t, "", "pubsub_broadcast_map"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	msg := v.(Tuple)[4].(map[string]any)
	checks := map[string]any{
		"big": int64(1099511627776), "body": "héllo wörld", "count": int64(42), "neg": int64(-7),
		"nested": map[string]any{"k": []any{int64(1), int64(2), int64(3)}}, "none": nil, "ok": true,
	}
	for k, want := range checks {
		if !reflect.DeepEqual(msg[k], want) {
			t.Errorf("%q: got %#v, want %#v", k, msg[k], want)
		}
	}
	t.Logf("map payload: %#v", msg)

	v, err = Decode(goldenFrame(t, "", "pubsub_broadcast_erlang_terms"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tup := v.(Tuple)[4].(Tuple)
	if tup[0] != Atom("user_joined") || tup[3] != Atom("Elixir.Some.Module") || tup[4] != 3.14 {
		t.Errorf("got %#v", tup)
	}
	if p := tup[1].(Pid); p.Node != "a@127.0.0.1" || p.ID != 102 || p.Serial != 0 {
		t.Errorf("pid %#v", p)
	}
	if r := tup[2].(Ref); r.Node != "a@127.0.0.1" || len(r.ID) != 3 {
		t.Errorf("ref %#v", r)
	}
	if !reflect.DeepEqual(tup[5], ImproperList{Elems: []any{int64(1)}, Tail: int64(2)}) {
		t.Errorf("improper list %#v", tup[5])
	}
	if !reflect.DeepEqual(tup[6], BitBinary{Data: []byte{0x20}, Bits: 3}) {
		t.Errorf("bit binary %#v", tup[6])
	}
	_ = big.NewInt
}
