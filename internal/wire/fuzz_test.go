package wire

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fuzzKey signs the signed seeds of FuzzDecode, so mutations of them exercise the verified path.
var fuzzKey = testKey

// FuzzDecode: Decode never panics, anything it accepts re-encodes to the same bytes, and it accepts
// only what tighter limits would accept or reject as too large.
func FuzzDecode(f *testing.F) {
	for _, e := range sampleEnvelopes() {
		f.Add(mustAppend(f, e, nil))
		f.Add(mustAppend(f, e, fuzzKey))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		frame := string(b)
		fr, err := Decode(frame, Limits{})
		if err != nil {
			return
		}
		e := envelopeOf(fr)
		if !fr.Signed {
			if re := mustAppend(t, e, nil); !bytes.Equal(re, b) {
				t.Fatalf("decoded %+v from\n%x\nwhich re-encodes as\n%x", fr, b, re)
			}
			// The publisher's path: stamp a sequence number and sign, in place.
			stamped := bytes.Clone(b)
			StampSeq(stamped, ^fr.Seq)
			signed := Sign(stamped, "", fuzzKey)
			sf, err := DecodeSigned(string(signed), Limits{}, "", fuzzKey)
			if err != nil || sf.Seq != ^fr.Seq || !sf.Signed {
				t.Fatalf("stamped and signed %x: %+v, %v", signed, sf, err)
			}
			sf.Seq, sf.Signed = fr.Seq, false
			if sf != fr {
				t.Fatalf("stamping and signing changed %+v into %+v", fr, sf)
			}
		} else {
			// Without its MAC and signed flag, it is the unsigned encoding of the same envelope.
			body := bytes.Clone(b[:len(b)-MACLen])
			body[4] = 0
			if re := mustAppend(t, e, nil); !bytes.Equal(re, body) {
				t.Fatalf("decoded signed %+v from\n%x\nwhose body re-encodes as\n%x", fr, b, re)
			}
			if vf, err := DecodeSigned(frame, Limits{}, "", fuzzKey); err == nil {
				if vf != fr {
					t.Fatalf("DecodeSigned %+v, Decode %+v", vf, fr)
				}
				if re := mustAppend(t, e, fuzzKey); !bytes.Equal(re, b) {
					t.Fatalf("verified %+v from\n%x\nwhich re-encodes as\n%x", fr, b, re)
				}
			}
		}
		tight := Limits{MaxFrame: 64, MaxName: 4, MaxTopic: 8}
		if tf, err := Decode(frame, tight); err == nil {
			if tf != fr || len(b) > 64 || len(fr.Origin) > 4 || len(fr.Topic) > 8 {
				t.Fatalf("tight limits accepted %+v", tf)
			}
		}
	})
}

// FuzzCheckMsgpack: CheckMsgpack never panics, agrees with the reference checker and with
// CheckMsgpackString, and whatever it accepts msgpack's decoder handles (see checkAgainstMsgpack).
func FuzzCheckMsgpack(f *testing.F) {
	for _, b := range validValues(f) {
		if len(b) < 1024 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstMsgpack(t, b)
	})
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz with -update. go test runs every
// seed as a test case, so these inputs are checked on every run, not only when fuzzing.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the seed corpora")
	}
	write := func(fuzzer, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	for name, e := range sampleEnvelopes() {
		write("FuzzDecode", "valid-"+name, mustAppend(t, e, nil))
		write("FuzzDecode", "signed-"+name, mustAppend(t, e, fuzzKey))
	}
	valid := cat(hdr(1, 0), validBody())
	for name, frame := range map[string]string{
		"empty":               "",
		"bad-magic":           "XX" + valid[2:],
		"version-2":           "PX\x02" + valid[3:],
		"kind-4":              cat(hdr(4, 0), validBody()),
		"reserved-flag":       cat(hdr(1, 2), validBody()),
		"seq-max":             cat(hdrSeq(1, 0, 1<<64-1), validBody()),
		"length-overlong":     cat(hdr(1, 0), []byte{0x86, 0x00}, validBody()[1:]),
		"length-overflow":     cat(hdr(1, 0), bytes.Repeat([]byte{0xff}, 9), []byte{0x02}, validBody()[1:]),
		"topic-beyond":        cat(hdr(1, 0), fld("a"), fld(""), uv(70000), []byte("twelve bytes")),
		"origin-huge-length":  cat(hdr(1, 0), uv(1<<63), []byte("node-a")),
		"trailing":            valid + "x",
		"empty-origin":        cat(hdr(1, 0), fld(""), fld(""), fld("t"), fld(""), fld(""), fld("")),
		"direct-no-target":    cat(hdr(2, 0), fld("a"), fld(""), fld("t"), fld(""), fld(""), fld("")),
		"signed-no-mac-space": cat(hdr(1, 1), validBody()[:10]),
		"signed-zero-mac":     cat(hdr(1, 1), validBody(), make([]byte, MACLen)),
		"msgpack-not-a-frame": "\xdd\xff\xff\xff\xff",
	} {
		write("FuzzDecode", name, []byte(frame))
	}

	for name, b := range validValues(t) {
		if len(b) < 1024 {
			write("FuzzCheckMsgpack", "valid-"+name, b)
		}
	}
	for name, b := range map[string][]byte{
		"attack-array32":    {0xdd, 0xff, 0xff, 0xff, 0xff},
		"attack-map32":      {0xdf, 0xff, 0xff, 0xff, 0xff},
		"attack-bin32":      {0xc6, 0xff, 0xff, 0xff, 0xff, 0x00},
		"attack-str32":      {0xdb, 0xff, 0xff, 0xff, 0xff},
		"attack-ext32":      {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},
		"attack-nested":     nested(10000),
		"attack-nested-map": bytes.Repeat([]byte{0x81, 0xa0}, 100),
		"deep-33":           nested(33),
		"deep-32":           nested(32),
		"reserved":          {0xc1},
		"reserved-in-array": {0x92, 0x01, 0xc1},
		"truncated":         {0x92, 0xcd, 0x01, 0x02},
		"trailing":          {0x01, 0x02},
		"int-keys":          {0x81, 0x01, 0x02},
		"array-key":         {0x81, 0x90, 0x01},
		"unknown-ext":       {0xd4, 0x05, 0x00},
		"bad-timestamp":     {0xd5, 0xff, 0x00, 0x00},
		"wide-array":        append([]byte{0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0xc0}, 256)...),
	} {
		write("FuzzCheckMsgpack", name, b)
	}
	t.Log("seed corpora written")
}
