package phoenixadapter

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeFrameTerm: the frame decoding of TermPayloads accepts, refuses and classifies (not a frame,
// or not a term) every input as DecodeFrame does, with the same frame, and its Term's Value is
// DecodeFrame's payload.
func FuzzDecodeFrameTerm(f *testing.F) {
	for _, dir := range []string{"", "elixir118", "otp26", "from_go"} {
		files, _ := filepath.Glob(filepath.Join("../../shared/interop/golden", dir, "*.hex"))
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b))
		}
	}
	f.Add("\x83h\x06a\x03w\x06exceptw\x0ba@127.0.0.1m\x00\x00\x00\x0aroom:lobbym\x00\x00\x00\x05hellow\x15Elixir.Phoenix.PubSub")
	f.Fuzz(func(t *testing.T, b string) {
		want, werr := DecodeFrame(b, 1<<20)
		got, gerr := decodeFrameTerm(b, 1<<20)
		if (werr == nil) != (gerr == nil) || errors.Is(werr, ErrNotAFrame) != errors.Is(gerr, ErrNotAFrame) {
			t.Fatalf("DecodeFrame: %v; decodeFrameTerm: %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		term, ok := got.Payload.(Term)
		if !ok {
			t.Fatalf("the payload is a %T", got.Payload)
		}
		v, err := term.Value()
		if err != nil || !reflect.DeepEqual(v, want.Payload) {
			t.Fatalf("the Term's value is %#v, %v; want %#v", v, err, want.Payload)
		}
		got.Payload, want.Payload = nil, nil
		if got != want {
			t.Fatalf("frame %+v, want %+v", got, want)
		}
	})
}
