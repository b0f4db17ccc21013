package phoenixpresence

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// goldenDir holds frames real Elixir nodes published (../shared/interop/golden beside the checkout):
// Elixir 1.14 at the top, 1.18 in elixir118/, OTP 26's encoding in otp26/, and in from_go/ frames of
// an independent Go encoder that a real node merged.
const goldenDir = "../../shared/interop/golden"

func readGolden(dir, name string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(goldenDir, dir, name+".hex"))
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(strings.TrimSpace(string(raw)))
}

func goldenBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := readGolden("", name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goldenMessage(t testing.TB, name string) (phoenixadapter.Frame, *message) {
	t.Helper()
	f, err := phoenixadapter.DecodeFrame(string(goldenBytes(t, name)), 0)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m, err := decodeMessage(f.Payload, Limits{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f, m
}

var trackerFrames = []string{
	"tracker_heartbeat_empty", "tracker_heartbeat_delta_2_joins", "tracker_heartbeat_delta_update",
	"tracker_heartbeat_delta_leave_join", "tracker_transfer_req", "tracker_transfer_ack",
	"tracker_heartbeat_from_peer", "tracker_graceful_permdown", "tracker_transfer_ack_full_state",
}

// Every tracker frame of every set decodes, and encodes back to the same bytes: Elixir 1.14's and
// the Go encoder's with the 1.14 MapSet, Elixir 1.18's with the 1.15+ one; OTP 25's atoms (ATOM_EXT)
// at the top and in elixir118/, OTP 26's (SMALL_ATOM_UTF8_EXT) in otp26/ and from_go/.
func TestGoldenRoundTrip(t *testing.T) {
	sets := []struct {
		dir           string
		legacy, v2Set bool
		frames        []string
	}{
		{"", true, true, trackerFrames},
		{"elixir118", true, false, trackerFrames},
		{"otp26", false, true, trackerFrames},
		{"from_go", false, true, []string{"tracker_heartbeat_empty", "tracker_heartbeat_delta", "tracker_transfer_req",
			"tracker_transfer_ack_full_state", "tracker_graceful_permdown"}},
	}
	for _, set := range sets {
		for _, name := range set.frames {
			path := filepath.Join(set.dir, name)
			f, m := goldenMessage(t, path)
			if f.Topic != "phx_presence:Elixir.MyApp.Presence_shard0" || f.Dispatcher != phoenixadapter.PubSubDispatcher {
				t.Errorf("%s: topic %q, dispatcher %q", path, f.Topic, f.Dispatcher)
			}
			mode := etf.Atom("except")
			if f.Direct {
				mode = "only"
			}
			term := encoder{mapSetVersion: set.v2Set}.messageTerm(m)
			enc := etf.Encoder{LegacyAtoms: set.legacy}
			got, err := enc.Append(nil, etf.Tuple{int64(3), mode, etf.Atom(f.Node), f.Topic, term, etf.Atom(f.Dispatcher)})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if set.dir == "from_go" {
				// That encoder wrote maps in no particular order, which Erlang accepts: compare terms.
				f2, err := phoenixadapter.DecodeFrame(string(got), 0)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				m2, err := decodeMessage(f2.Payload, Limits{})
				if err != nil || !reflect.DeepEqual(m, m2) {
					t.Errorf("%s: re-encoded as %+v (%v), want %+v", path, m2, err, m)
				}
			} else if want := goldenBytes(t, path); !bytes.Equal(got, want) {
				t.Errorf("%s: encoded\n%x\nwant\n%x", path, got, want)
			}
		}
	}
}

// The frames say what their calls did: the shapes decode into the right kinds and contents.
func TestGoldenContents(t *testing.T) {
	a := replicaRef{Name: "a@127.0.0.1", Vsn: 1796009306448836}
	_, m := goldenMessage(t, "tracker_heartbeat_empty")
	if m.Kind != msgHeartbeat || m.State != nil || m.From.Name != "a@127.0.0.1" {
		t.Errorf("empty heartbeat: %+v", m)
	}
	_, m = goldenMessage(t, "tracker_heartbeat_delta_2_joins")
	if m.Kind != msgHeartbeat || m.From != a || m.State == nil || !m.State.Delta || len(m.State.Values) != 2 ||
		len(m.State.Clouds[a]) != 2 || m.State.RangeStart[a] != 0 || m.State.RangeEnd[a] != 2 || m.Clocks.Context[a] != 2 {
		t.Fatalf("2 joins: %+v", m)
	}
	alice := m.State.Values[tag{a, 1}]
	if alice == nil || alice.Topic != "room:lobby" || alice.Key != "alice" || goMeta(alice.Meta)["status"] != "online" ||
		alice.Pid.Node != "a@127.0.0.1" {
		t.Errorf("alice: %+v", alice)
	}
	_, m = goldenMessage(t, "tracker_transfer_req")
	if m.Kind != msgTransferReq || m.From.Name != "b@127.0.0.1" || len(m.Clocks.Context) != 2 {
		t.Errorf("transfer_req: %+v", m)
	}
	if _, ok := m.Ref.(etf.Ref); !ok {
		t.Errorf("transfer_req reference: %T", m.Ref)
	}
	_, m = goldenMessage(t, "tracker_transfer_ack_full_state")
	if m.Kind != msgTransferAck || m.State.Delta || len(m.State.Values) != 2 || len(m.State.Context) != 2 {
		t.Errorf("full-state ack: %+v", m)
	}
	_, m = goldenMessage(t, "tracker_graceful_permdown")
	if m.Kind != msgGracefulPermdown || m.From != a {
		t.Errorf("graceful_permdown: %+v", m)
	}
}

// A Go replica fed node a's gossip in order lists what node a tracked: the joins, the update (with
// phx_ref_prev), the leave and join again, then nothing after its graceful permdown.
func TestGoldenSequence(t *testing.T) {
	self := replicaRef{Name: "go@127.0.0.1", Vsn: 1}
	st := newState(self)
	rs := &replicas{st: st, byName: map[string]*remote{}}
	feed := func(name string) changes {
		var c changes
		_, m := goldenMessage(t, name)
		switch m.Kind {
		case msgHeartbeat:
			rs.heartbeat(m.From, timeZero, &c)
			if m.State != nil {
				j, l := st.merge(m.State)
				c.join(j...)
				c.leave(l...)
			}
		case msgGracefulPermdown:
			rs.gracefulPermdown(m.From, &c)
		}
		return c
	}
	list := func() map[string]string {
		out := map[string]string{}
		for _, v := range st.online("room:lobby") {
			out[keyString(v.Key)], _ = goMeta(v.Meta)["status"].(string)
		}
		return out
	}
	feed("tracker_heartbeat_empty")
	if c := feed("tracker_heartbeat_delta_2_joins"); len(c.joins) != 2 || len(c.leaves) != 0 {
		t.Fatalf("2 joins: %d joins, %d leaves", len(c.joins), len(c.leaves))
	}
	if got := list(); got["alice"] != "online" || got["bob"] != "away" || len(got) != 2 {
		t.Fatalf("after the joins: %v", got)
	}
	if c := feed("tracker_heartbeat_delta_update"); len(c.joins) != 1 || len(c.leaves) != 1 {
		t.Fatalf("update: %d joins, %d leaves", len(c.joins), len(c.leaves))
	}
	if got := list(); got["alice"] != "busy" || len(got) != 2 {
		t.Fatalf("after the update: %v", got)
	}
	if c := feed("tracker_heartbeat_delta_leave_join"); len(c.joins) != 1 || len(c.leaves) != 1 {
		t.Fatalf("leave and join: %d joins, %d leaves", len(c.joins), len(c.leaves))
	}
	if got := list(); got["bob"] != "back" || got["alice"] != "busy" || len(got) != 2 {
		t.Fatalf("after the leave and join: %v", got)
	}
	if c := feed("tracker_graceful_permdown"); len(c.leaves) != 2 {
		t.Fatalf("graceful permdown: %d leaves", len(c.leaves))
	}
	if got := list(); len(got) != 0 || len(st.values) != 0 {
		t.Fatalf("after the permdown: %v", got)
	}
}
