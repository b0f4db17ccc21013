package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindBroadcast: "broadcast", KindDirect: "direct", KindProbe: "probe",
		0: "Kind(0)", 4: "Kind(4)", 255: "Kind(255)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for name, e := range sampleEnvelopes() {
		for _, key := range [][]byte{nil, testKey} {
			signed := key != nil
			t.Run(name+map[bool]string{false: "/unsigned", true: "/signed"}[signed], func(t *testing.T) {
				prefix := []byte("prefix")
				b, err := Append(prefix, &e, key)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(b, prefix) {
					t.Fatalf("Append overwrote dst: %q", b)
				}
				frame := string(b[len(prefix):])
				if alone := mustAppend(t, e, key); string(alone) != frame {
					t.Fatalf("frame depends on dst: %x vs %x", alone, frame)
				}

				f, err := Decode(frame, Limits{})
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				checkFrame(t, f, e, signed)

				f, err = DecodeSigned(frame, Limits{}, e.Scope, key)
				if err != nil {
					t.Fatalf("DecodeSigned: %v", err)
				}
				checkFrame(t, f, e, signed)

				if signed {
					if _, err := DecodeSigned(frame, Limits{}, "", []byte("another key")); !errors.Is(err, ErrSignature) {
						t.Errorf("DecodeSigned with the wrong key: %v, want ErrSignature", err)
					}
					// The MAC covers the frame, not what came before it in dst.
					if !validMAC(e.Scope, frame[:len(frame)-MACLen], frame[len(frame)-MACLen:], key) {
						t.Error("MAC does not cover exactly the frame")
					}
				} else if _, err := DecodeSigned(frame, Limits{}, "", testKey); !errors.Is(err, ErrSignature) {
					t.Errorf("DecodeSigned of an unsigned frame: %v, want ErrSignature", err)
				}
			})
		}
	}
}

func TestDecodeZeroCopy(t *testing.T) {
	frame := string(mustAppend(t, sampleEnvelopes()["broadcast-all-fields"], nil))
	f, err := Decode(frame, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	lo := uintptr(unsafe.Pointer(unsafe.StringData(frame)))
	hi := lo + uintptr(len(frame))
	for name, s := range map[string]string{"origin": f.Origin, "topic": f.Topic, "dispatcher": f.Dispatcher,
		"payload type": f.PayloadType, "payload": f.Payload} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p < lo || p+uintptr(len(s)) > hi {
			t.Errorf("%s does not alias the frame", name)
		}
	}
}

func TestSeq(t *testing.T) {
	for _, seq := range []uint64{0, 1, 127, 128, 255, 16383, 16384, 1<<32 - 1, 1 << 32, 1<<56 + 3, 1<<63 - 1, 1 << 63, 1<<64 - 1} {
		e := sampleEnvelopes()["broadcast"]
		e.Seq = seq
		b := mustAppend(t, e, nil)
		f, err := Decode(string(b), Limits{})
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if f.Seq != seq {
			t.Errorf("seq %d decoded as %d", seq, f.Seq)
		}
		if got := binary.BigEndian.Uint64(b[SeqOffset:HeaderLen]); got != seq {
			t.Errorf("seq %d is %x on the wire, not big-endian at offset %d", seq, b[SeqOffset:HeaderLen], SeqOffset)
		}
	}
}

func TestUvarintLen(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 255, 16383, 16384, 1<<32 - 1, 1 << 32, 1<<56 + 3, 1<<63 - 1, 1 << 63, 1<<64 - 1} {
		if n, want := uvarintLen(v), len(uv(v)); n != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", v, n, want)
		}
	}
}
