package phoenixpresence

import (
	"fmt"
	"testing"

	"github.com/phxgo/pubsub/internal/etf"
)

// benchState is a replica that knows n presences of another replica.
func benchState(b *testing.B, n int) (*state, *state) {
	src := newState(replicaRef{Name: "elixir@host", Vsn: 1})
	src.sizes = DefaultMaxDeltaSizes
	for i := 0; i < n; i++ {
		pid := etf.Pid{Node: "elixir@host", ID: uint32(i), Creation: 1}
		key := fmt.Sprintf("user%d", i)
		src.join(pid, fmt.Sprintf("room:%d", i%100), key, key, etf.Map{{Key: atomPhxRef, Value: "GOy08tYZbbLt8wOh"}, {Key: "status", Value: "online"}})
	}
	src.takeDelta()
	dst := newState(replicaRef{Name: "go@host", Vsn: 2})
	dst.sizes = DefaultMaxDeltaSizes
	dst.replicaUp(src.replica)
	dst.mergeGossip(src.extract(dst.clocks().Context))
	if len(dst.values) != n {
		b.Fatalf("%d values, want %d", len(dst.values), n)
	}
	return src, dst
}

// A heartbeat with one join and one leave, as received, decoded and merged by a replica holding n
// presences.
func BenchmarkHeartbeat(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src, dst := benchState(b, n)
			enc := encoder{mapSetVersion: true}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				pid := etf.Pid{Node: "elixir@host", ID: uint32(n + i), Creation: 1}
				k := fmt.Sprintf("new%d", i)
				src.join(pid, "room:0", k, k, etf.Map{{Key: atomPhxRef, Value: "x"}})
				for key := range src.own {
					src.leave(key)
					break
				}
				m := &message{Kind: msgHeartbeat, From: src.replica, Clocks: src.clocks(), State: src.takeDelta()}
				frame, err := (&etf.Encoder{}).Append(nil, enc.messageTerm(m))
				if err != nil {
					b.Fatal(err)
				}
				v, err := etf.Decode(frame, etf.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				got, err := decodeMessage(v, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				dst.mergeGossip(got.State)
			}
		})
	}
}

// A full-state transfer of n presences: extracted, encoded, decoded and merged by a fresh replica.
func BenchmarkFullTransfer(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src, _ := benchState(b, n)
			enc := encoder{mapSetVersion: true}
			b.ReportAllocs()
			for b.Loop() {
				dst := newState(replicaRef{Name: "go@host", Vsn: 2})
				dst.replicaUp(src.replica)
				m := &message{Kind: msgTransferAck, From: src.replica, Ref: etf.Atom("r"), State: src.extract(dst.clocks().Context)}
				frame, err := (&etf.Encoder{}).Append(nil, enc.messageTerm(m))
				if err != nil {
					b.Fatal(err)
				}
				v, err := etf.Decode(frame, etf.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				got, err := decodeMessage(v, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				dst.merge(got.State)
				if len(dst.values) != n {
					b.Fatalf("%d values", len(dst.values))
				}
			}
		})
	}
}
