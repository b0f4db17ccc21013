package pubsub_test

import (
	"testing"
	"unsafe"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
)

// What a frame from the network costs the receiving node, by what becomes of it: its own echo, a
// frame for a topic nobody here holds (both skipped before the payload is decoded), and a frame
// delivered to one subscriber, unsigned and signed. Every frame has a new sequence number, as in a
// live stream: unsigned frames are renumbered in place; signed ones are made beforehand in batches
// (renumbering would break their MAC), and the receiver is replaced between batches, off the clock.
// The mailbox holds one message, so delivery costs one drop (counted) after the first.
func BenchmarkHandleFrame(b *testing.B) {
	payload := make([]byte, 100)
	for _, bc := range []struct {
		name      string
		secrets   [][]byte
		subscribe bool
		own       bool
	}{
		{"own-echo", nil, true, true},
		{"no-subscriber", nil, false, false},
		{"no-subscriber-signed", [][]byte{secret}, false, false},
		{"delivered", nil, true, false},
		{"delivered-signed", [][]byte{secret}, true, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sender, st := node(b, "bench", "b", bc.secrets...)
			var recv *pubsub.PubSub
			var rt *tap
			fresh := func() {
				recv, rt = node(b, "bench", "a", bc.secrets...)
				if bc.own {
					recv, rt = sender, st
				}
				if bc.subscribe {
					s := newSub(b, recv, pubsub.WithMailboxSize(1))
					s.Subscribe("t")
				}
			}
			fresh()
			const batch = 1 << 14
			frames := make([]string, 0, batch)
			refill := func() {
				frames = frames[:0]
				for range batch {
					frames = append(frames, send(b, sender, st, "t", payload))
				}
				st.mu.Lock()
				st.sent = st.sent[:0]
				st.mu.Unlock()
			}
			refill()
			frame := []byte(frames[0])
			seq := uint64(1 << 60)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				var f string
				if bc.secrets == nil {
					seq++
					wire.StampSeq(frame, seq)
					f = unsafe.String(&frame[0], len(frame)) // as go-redis hands a frame over: no copy
				} else {
					if i%batch == 0 && i > 0 {
						b.StopTimer()
						refill()
						fresh()
						b.StartTimer()
					}
					f = frames[i%batch]
				}
				if err := rt.host.HandleFrame(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
