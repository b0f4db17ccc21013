package phoenixpresence

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// fuzzLimits are small, so that the fuzzer reaches them.
var fuzzLimits = Limits{MaxValues: 16, MaxReplicas: 8, MaxDots: 32}

// FuzzGossip feeds frames to the gossip decoder and merges what it accepts: nothing panics, what is
// accepted is within the limits, and it encodes back to a term that decodes to the same message.
func FuzzGossip(f *testing.F) {
	for _, set := range []string{"", "elixir118", "otp26", "from_go"} {
		for _, name := range append(trackerFrames, "tracker_heartbeat_delta") {
			if b, err := readGolden(set, name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := phoenixadapter.DecodeFrame(string(b), 1<<16)
		if err != nil {
			return
		}
		m, err := decodeMessage(fr.Payload, fuzzLimits)
		if err != nil {
			return
		}
		if m.State != nil {
			dots := 0
			for _, c := range m.State.Clouds {
				dots += len(c)
			}
			if len(m.State.Values) > fuzzLimits.MaxValues || dots > fuzzLimits.MaxDots {
				t.Fatalf("accepted %d values and %d dots beyond the limits", len(m.State.Values), dots)
			}
		}
		enc := encoder{mapSetVersion: true}
		once, err := (&etf.Encoder{}).Append(nil, enc.messageTerm(m))
		if err != nil {
			t.Fatalf("an accepted message does not encode: %v", err)
		}
		v, err := etf.Decode(once, etf.Limits{})
		if err != nil {
			t.Fatalf("the encoding does not decode: %v", err)
		}
		m2, err := decodeMessage(v, fuzzLimits)
		if err != nil {
			t.Fatalf("the encoding is not a message: %v", err)
		}
		twice, _ := (&etf.Encoder{}).Append(nil, enc.messageTerm(m2))
		if !bytes.Equal(once, twice) || m.Kind != m2.Kind || !reflect.DeepEqual(m.From, m2.From) {
			t.Fatalf("the round trip changed the message")
		}
		// Merge it as a replica would.
		st := newState(replicaRef{Name: "go@fuzz", Vsn: 1})
		st.sizes = []int{2, 8}
		rs := &replicas{st: st, byName: map[string]*remote{}}
		var c changes
		switch m.Kind {
		case msgHeartbeat:
			rs.heartbeat(m.From, timeZero, &c)
			if m.State != nil {
				st.mergeGossip(m.State)
				st.mergeGossip(m.State)
			}
		case msgTransferAck:
			rs.heartbeat(m.From, timeZero, &c)
			st.mergeGossip(m.State)
			st.mergeGossip(m.State)
		case msgTransferReq:
			st.join(etf.Pid{Node: "go@fuzz", ID: 1}, "t", "k", "k", etf.Map{})
			st.takeDelta()
			st.transfer(m.Clocks.Context)
		case msgGracefulPermdown:
			rs.heartbeat(m.From, timeZero, &c)
			rs.gracefulPermdown(m.From, &c)
			if len(st.values) != 0 {
				t.Fatalf("values left after a permdown")
			}
		}
	})
}
