package tracker

import (
	"fmt"
	"testing"
)

// The receiver's decoding of a part of a full state, values with the usual small meta
// ({"status", "device"} and the ref): the per-value cost of a new node's join, without the merge.
func BenchmarkUnmarshalPart(b *testing.B) {
	s := newState(newReplicaRef("a"))
	for i := range 10_000 {
		s.join(fmt.Sprintf("topic%d", i%100), "owner", fmt.Sprint("key", i), map[string]any{"status": "online", "device": "web", MetaRef: newRef().String()})
	}
	x := s.extract(newReplicaRef("b"), causalContext{s.ref(): 0})
	parts := newExtractParts(x, 1<<30)
	bs, _, _, err := parts.nextPayload()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(bs)))
	for b.Loop() {
		vs, err := unmarshalPart(bs)
		if err != nil || len(vs) != 10_000 {
			b.Fatal(len(vs), err)
		}
	}
}
