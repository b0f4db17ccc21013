package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestFrameKind(t *testing.T) {
	for name, e := range sampleEnvelopes() {
		for _, key := range [][]byte{nil, testKey} {
			if k := FrameKind(mustAppend(t, e, key)); k != e.Kind {
				t.Errorf("%s: FrameKind = %v, want %v", name, k, e.Kind)
			}
		}
	}
	frame := mustAppend(t, sampleEnvelopes()["direct"], nil)
	for _, b := range [][]byte{nil, frame[:HeaderLen-1], append([]byte("XX"), frame[2:]...)} {
		if k := FrameKind(b); k != 0 {
			t.Errorf("FrameKind(%x) = %v, want 0", b, k)
		}
	}
}

// TestStampAndSign is the publisher's path: encode unsequenced and unsigned, then stamp the sequence
// number and sign in place. The result must be exactly what Append produces with the same seq and key.
func TestStampAndSign(t *testing.T) {
	for name, e := range sampleEnvelopes() {
		seq := e.Seq
		e.Seq = 0
		frame := mustAppend(t, e, nil)
		StampSeq(frame, seq)
		e.Seq = seq
		if want := mustAppend(t, e, nil); !bytes.Equal(frame, want) {
			t.Fatalf("%s: stamped\n%x\nwant\n%x", name, frame, want)
		}
		signed := Sign(frame, e.Scope, testKey)
		if want := mustAppend(t, e, testKey); !bytes.Equal(signed, want) {
			t.Fatalf("%s: signed\n%x\nwant\n%x", name, signed, want)
		}
		f, err := DecodeSigned(string(signed), Limits{}, e.Scope, testKey)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkFrame(t, f, e, true)

		// Stamping a signed frame breaks its MAC; signing it again mends it.
		StampSeq(signed, seq+1)
		if _, err := DecodeSigned(string(signed), Limits{}, e.Scope, testKey); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: stamped after signing: %v, want ErrSignature", name, err)
		}
		resigned := Sign(signed, e.Scope, testKey)
		e.Seq = seq + 1
		if want := mustAppend(t, e, testKey); !bytes.Equal(resigned, want) {
			t.Errorf("%s: re-signed\n%x\nwant\n%x", name, resigned, want)
		}
	}
}

func TestStampSignAllocs(t *testing.T) {
	e := sampleEnvelopes()["broadcast-all-fields"]
	frame, err := Append(make([]byte, 0, 512), &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { StampSeq(frame, 42) }); n != 0 {
		t.Errorf("StampSeq: %v allocations", n)
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { frame = Sign(frame, e.Scope, testKey) }); n != 0 {
		t.Errorf("Sign with spare capacity: %v allocations", n)
	}
}

func TestStampSignPanics(t *testing.T) {
	frame := mustAppend(t, sampleEnvelopes()["broadcast"], nil)
	for _, tt := range []struct {
		name string
		f    func()
		msg  string
	}{
		{"StampSeq short", func() { StampSeq(frame[:HeaderLen-1], 1) }, "StampSeq: 36 bytes are not a frame"},
		{"StampSeq no magic", func() { StampSeq(append([]byte("XX"), frame[2:]...), 1) }, "not a frame"},
		{"Sign short", func() { Sign(nil, "", testKey) }, "Sign: 0 bytes are not a frame"},
		{"Sign empty key", func() { Sign(bytes.Clone(frame), "", []byte{}) }, "empty key"},
		{"Sign nil key", func() { Sign(bytes.Clone(frame), "", nil) }, "empty key"},
		{"Sign signed without MAC", func() {
			b := append([]byte(nil), frame[:HeaderLen]...)
			b[4] = FlagSigned
			Sign(b, "", testKey)
		}, "has no MAC"},
	} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tt.msg) {
					t.Errorf("%s: panic %v, want one saying %q", tt.name, r, tt.msg)
				}
			}()
			tt.f()
		}()
	}
}
