package tracker

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// valueHead, where it reads a value, reads exactly what valueHeadSlow (the msgpack decoder) reads, and
// leaves the reader at the same place; where it does not, nothing was read.
func FuzzValueHead(f *testing.F) {
	enc := func(vals ...any) []byte {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		e.UseCompactInts(true)
		for _, v := range vals {
			if err := e.Encode(v); err != nil {
				f.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	f.Add(append([]byte{0x96}, enc(0, 1, 0, "owner", "key", nil)...))
	f.Add(append([]byte{0x96}, enc(1, 70000, 2, "o", "k", nil)...))
	f.Add(append([]byte{0x96}, enc(uint64(0), uint64(1)<<40, uint8(1), "owner-with-a-much-longer-name-than-usual-so-that-it-is-not-interned-x", "k", nil)...))
	f.Add(append([]byte{0x96, 0xcc, 0x01, 0xcd, 0x00, 0x05, 0x00, 0xd9, 0x01, 'o', 0xd9, 0x01, 'k'}, 0xc0))
	f.Add(append([]byte{0xdc, 0x00, 0x06}, enc(0, 1, 0, "o", "k", nil)...)) // array 16: the slow path
	f.Add(append([]byte{0x96}, enc(0, 0, 0, "o", "k", nil)...))             // clock 0: refused
	f.Add(append([]byte{0x96}, enc(3, 1, 0, "o", "k", nil)...))             // replica index out of range
	f.Add(append([]byte{0x96}, enc(0, 1, 0, []byte("o"), "k", nil)...))     // a bin owner: the slow path
	f.Fuzz(func(t *testing.T, b []byte) {
		decoder := func() *stateDecoder {
			sd := &stateDecoder{buf: b, r: bytes.NewReader(b)}
			sd.d = msgpack.NewDecoder(sd.r)
			sd.replicas = []replicaRef{{Name: "a", Vsn: 1}, {Name: "b", Vsn: 2}, {Name: "c", Vsn: 3}}
			sd.topics = []string{"room:0", "room:1", "room:2"}
			sd.owner = "o"
			return sd
		}
		fast, slow := decoder(), decoder()
		var fv, sv value
		if !fast.valueHead(&fv) {
			if fast.pos() != 0 {
				t.Fatalf("valueHead read %d bytes and gave up", fast.pos())
			}
			return
		}
		if err := slow.valueHeadSlow(&sv); err != nil {
			t.Fatalf("valueHead read %+v where the decoder fails: %v", fv, err)
		}
		if fv.tag != sv.tag || fv.topic != sv.topic || fv.owner != sv.owner || fv.key != sv.key || fast.pos() != slow.pos() || fast.owner != slow.owner {
			t.Fatalf("valueHead read %+v (at %d), the decoder %+v (at %d)", fv, fast.pos(), sv, slow.pos())
		}
	})
}
