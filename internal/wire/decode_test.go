package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// validBody is a valid unsigned broadcast after the header: the six fields.
func validBody() []byte {
	return []byte(cat(fld("node-a"), fld(""), fld("topic"), fld(""), fld(""), fld("payload")))
}

func TestDecodeMalformed(t *testing.T) {
	valid := cat(hdr(1, 0), validBody())
	if _, err := Decode(valid, Limits{}); err != nil {
		t.Fatalf("the base frame is invalid: %v", err)
	}
	big := strings.Repeat("x", 70000)
	tests := []struct {
		name  string
		frame string
		lim   Limits
		want  error
		msg   string // substring of the error, if set
	}{
		{"empty", "", Limits{}, ErrMalformed, "magic"},
		{"one byte", "P", Limits{}, ErrMalformed, "magic"},
		{"bad magic", "XX" + valid[2:], Limits{}, ErrMalformed, "magic"},
		{"lower-case magic", "px" + valid[2:], Limits{}, ErrMalformed, "magic"},
		{"json", `{"topic":"x"}`, Limits{}, ErrMalformed, "magic"},
		{"magic only", "PX", Limits{}, ErrMalformed, "truncated"},
		{"version 0", "PX\x00" + valid[3:], Limits{}, ErrVersion, "version 0"},
		{"version 1", "PX\x01" + valid[3:], Limits{}, ErrVersion, "version 1"},
		{"version 3", "PX\x03" + valid[3:], Limits{}, ErrVersion, "version 3"},
		{"version 3 truncated", "PX\x03", Limits{}, ErrVersion, ""},
		{"header truncated", valid[:HeaderLen-1], Limits{}, ErrMalformed, "header truncated"},
		{"kind 0", cat(hdr(0, 0), validBody()), Limits{}, ErrMalformed, "unknown kind 0"},
		{"kind 4", cat(hdr(4, 0), validBody()), Limits{}, ErrMalformed, "unknown kind 4"},
		{"kind 255", cat(hdr(255, 0), validBody()), Limits{}, ErrMalformed, "unknown kind 255"},
		{"flag bit 1", cat(hdr(1, 2), validBody()), Limits{}, ErrMalformed, "flag"},
		{"flag bit 7", cat(hdr(1, 0x80), validBody()), Limits{}, ErrMalformed, "flag"},
		{"signed and bit 1", cat(hdr(1, 3), validBody(), make([]byte, MACLen)), Limits{}, ErrMalformed, "flag"},
		{"signed without room for MAC", cat(hdr(1, 1), validBody()[:10]), Limits{}, ErrMalformed, "MAC"},
		{"seq truncated", cat(hdr(1, 0))[:HeaderLen-3], Limits{}, ErrMalformed, "header truncated"},
		{"origin length overlong", cat(hdr(1, 0), []byte{0x86, 0x00}, []byte("node-a"), fld(""), fld("topic"), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "origin length varint at offset 37 not minimally encoded"},
		{"origin length overlong zero", cat(hdr(1, 0), []byte{0x80, 0x80, 0x00}, fld(""), fld("topic"), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "not minimally"},
		{"origin length overflow 10th byte", cat(hdr(1, 0), bytes.Repeat([]byte{0xff}, 9), []byte{0x02}), Limits{}, ErrMalformed, "origin length varint at offset 37 overflows 64 bits"},
		{"origin length overflow 11 bytes", cat(hdr(1, 0), bytes.Repeat([]byte{0xff}, 11)), Limits{}, ErrMalformed, "overflows"},
		{"origin length 2^64-1", cat(hdr(1, 0), bytes.Repeat([]byte{0xff}, 9), []byte{0x01}, []byte("node-a")), Limits{}, ErrMalformed, "origin length 18446744073709551615 exceeds remaining 6 bytes"},
		{"origin length truncated", cat(hdr(1, 0)), Limits{}, ErrMalformed, "origin length varint at offset 37 truncated"},
		{"origin length varint cut", cat(hdr(1, 0), []byte{0x80}), Limits{}, ErrMalformed, "truncated"},
		{"payload length overlong", cat(hdr(1, 0), fld("a"), fld(""), fld("t"), fld(""), fld(""), []byte{0x81, 0x00}, []byte("x")), Limits{}, ErrMalformed, "payload length varint at offset 44 not minimally encoded"},
		{"origin beyond remaining", cat(hdr(1, 0), uv(7), []byte("node-a")), Limits{}, ErrMalformed, "origin length 7 exceeds remaining 6 bytes"},
		{"origin length 2^63", cat(hdr(1, 0), uv(1<<63), []byte("node-a")), Limits{}, ErrMalformed, "exceeds remaining"},
		{"target beyond remaining", cat(hdr(1, 0), fld("a"), uv(300)), Limits{}, ErrMalformed, "target length 300 exceeds remaining 0 bytes"},
		{"topic beyond remaining", cat(hdr(1, 0), fld("a"), fld(""), uv(70000), []byte("twelve bytes")), Limits{}, ErrMalformed, "topic length 70000 exceeds remaining 12 bytes"},
		{"dispatcher beyond remaining", cat(hdr(1, 0), fld("a"), fld(""), fld("t"), uv(2), []byte("x")), Limits{}, ErrMalformed, "dispatcher length 2 exceeds remaining 1 bytes"},
		{"payload type beyond remaining", cat(hdr(1, 0), fld("a"), fld(""), fld("t"), fld(""), uv(5)), Limits{}, ErrMalformed, "payload type length 5 exceeds remaining 0 bytes"},
		{"payload beyond remaining", cat(hdr(1, 0), fld("a"), fld(""), fld("t"), fld(""), fld(""), uv(8), []byte("payload")), Limits{}, ErrMalformed, "payload length 8 exceeds remaining 7 bytes"},
		{"payload missing", cat(hdr(1, 0), fld("a"), fld(""), fld("t"), fld(""), fld("")), Limits{}, ErrMalformed, "payload length varint"},
		{"trailing byte", valid + "x", Limits{}, ErrMalformed, "1 trailing bytes"},
		{"trailing MAC-sized garbage", valid + strings.Repeat("\x00", MACLen), Limits{}, ErrMalformed, "32 trailing bytes"},
		{"empty origin", cat(hdr(1, 0), fld(""), fld(""), fld("t"), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "empty origin"},
		{"zero incarnation", cat([]byte("PX\x02\x01\x00"), make([]byte, 16+8+8), validBody()), Limits{}, ErrMalformed, "zero incarnation"},
		{"broadcast without topic", cat(hdr(1, 0), fld("a"), fld(""), fld(""), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "empty topic"},
		{"broadcast with target", cat(hdr(1, 0), fld("a"), fld("b"), fld("t"), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "broadcast frame with a target"},
		{"direct without target", cat(hdr(2, 0), fld("a"), fld(""), fld("t"), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "direct frame without target"},
		{"direct without topic", cat(hdr(2, 0), fld("a"), fld("b"), fld(""), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "empty topic"},
		{"probe with payload", cat(hdr(3, 0), fld("a"), fld(""), fld(""), fld(""), fld(""), fld("x")), Limits{}, ErrMalformed, "probe"},
		{"probe with topic", cat(hdr(3, 0), fld("a"), fld(""), fld("t"), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "probe"},
		{"probe with target", cat(hdr(3, 0), fld("a"), fld("b"), fld(""), fld(""), fld(""), fld("")), Limits{}, ErrMalformed, "probe"},
		{"probe with dispatcher", cat(hdr(3, 0), fld("a"), fld(""), fld(""), fld("d"), fld(""), fld("")), Limits{}, ErrMalformed, "probe"},
		{"probe with payload type", cat(hdr(3, 0), fld("a"), fld(""), fld(""), fld(""), fld("p"), fld("")), Limits{}, ErrMalformed, "probe"},

		// Limits.
		{"frame over default limit", valid + strings.Repeat("x", DefaultMaxFrame), Limits{}, ErrTooLarge, "exceeds limit 1048576"},
		{"frame over limit", valid, Limits{MaxFrame: len(valid) - 1}, ErrTooLarge, "exceeds limit"},
		{"frame over limit, not even a frame", strings.Repeat("\xff", 100), Limits{MaxFrame: 99}, ErrTooLarge, ""},
		{"origin over default", cat(hdr(1, 0), fld(big[:256]), fld(""), fld("t"), fld(""), fld(""), fld("")), Limits{}, ErrTooLarge, "origin length 256 exceeds limit 255"},
		{"origin over hard cap", cat(hdr(1, 0), fld(big[:256]), fld(""), fld("t"), fld(""), fld(""), fld("")), Limits{MaxName: 1000}, ErrTooLarge, "limit 255"},
		{"origin over limit", cat(hdr(1, 0), fld("node-a"), fld(""), fld("t"), fld(""), fld(""), fld("")), Limits{MaxName: 5}, ErrTooLarge, "origin length 6 exceeds limit 5"},
		{"target over limit", cat(hdr(2, 0), fld("a"), fld("node-b"), fld("t"), fld(""), fld(""), fld("")), Limits{MaxName: 5}, ErrTooLarge, "target length 6"},
		{"dispatcher over limit", cat(hdr(1, 0), fld("a"), fld(""), fld("t"), fld("fastlane"), fld(""), fld("")), Limits{MaxName: 5}, ErrTooLarge, "dispatcher length 8"},
		{"payload type over limit", cat(hdr(1, 0), fld("a"), fld(""), fld("t"), fld(""), fld("string"), fld("")), Limits{MaxName: 5}, ErrTooLarge, "payload type length 6"},
		{"topic over default", cat(hdr(1, 0), fld("a"), fld(""), fld(big[:4097]), fld(""), fld(""), fld("")), Limits{}, ErrTooLarge, "topic length 4097 exceeds limit 4096"},
		{"topic over hard cap", cat(hdr(1, 0), fld("a"), fld(""), fld(big[:4097]), fld(""), fld(""), fld("")), Limits{MaxTopic: 1 << 20}, ErrTooLarge, "limit 4096"},
		{"topic over limit", cat(hdr(1, 0), fld("a"), fld(""), fld("topic"), fld(""), fld(""), fld("")), Limits{MaxTopic: 4}, ErrTooLarge, "topic length 5 exceeds limit 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.frame, tt.lim)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %+v, %v; want %v", f, err, tt.want)
			}
			if f != (Frame{}) {
				t.Errorf("Decode returned a non-zero Frame with an error: %+v", f)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			n := 0
			for _, s := range []error{ErrTooLarge, ErrMalformed, ErrVersion, ErrSignature, ErrInvalid} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("error %q wraps %d of the package's errors, want 1", err, n)
			}
		})
	}
}

func TestDecodeLimitsAccept(t *testing.T) {
	e := sampleEnvelopes()["direct"]
	frame := string(mustAppend(t, e, testKey))
	exact := Limits{MaxFrame: len(frame), MaxName: len("node-a"), MaxTopic: len(e.Topic)}
	for _, lim := range []Limits{{}, exact, {MaxFrame: -1, MaxName: -1, MaxTopic: -1}, {MaxFrame: 1 << 40, MaxName: 1 << 40, MaxTopic: 1 << 40}} {
		f, err := DecodeSigned(frame, lim, "", testKey)
		if err != nil {
			t.Fatalf("limits %+v: %v", lim, err)
		}
		checkFrame(t, f, e, true)
	}
	if _, err := Decode(frame, Limits{MaxFrame: len(frame) - 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a signed frame one byte over MaxFrame: %v, want ErrTooLarge (the MAC counts)", err)
	}
	if got := (Limits{MaxFrame: 1 << 40}).effective().MaxFrame; got != MaxFrameLen {
		t.Errorf("MaxFrame above the hard cap gives %d, want %d", got, MaxFrameLen)
	}
}

func TestDecodeMaxSeq(t *testing.T) {
	frame := cat(hdrSeq(1, 0, 1<<64-1), validBody())
	f, err := Decode(frame, Limits{})
	if err != nil || f.Seq != 1<<64-1 {
		t.Fatalf("Decode = seq %d, %v; want %d", f.Seq, err, uint64(1<<64-1))
	}
}

// TestDecodeTruncated cuts every valid frame at every offset: each prefix must be rejected, never panic.
func TestDecodeTruncated(t *testing.T) {
	for name, e := range sampleEnvelopes() {
		for _, key := range [][]byte{nil, testKey} {
			frame := string(mustAppend(t, e, key))
			for i := range len(frame) {
				if f, err := Decode(frame[:i], Limits{}); err == nil {
					t.Errorf("%s (signed %v) cut to %d of %d bytes decoded: %+v", name, key != nil, i, len(frame), f)
				}
				if f, err := DecodeSigned(frame[:i], Limits{}, "", testKey); err == nil {
					t.Errorf("%s (signed %v) cut to %d of %d bytes decoded signed: %+v", name, key != nil, i, len(frame), f)
				}
			}
		}
	}
}

// TestDecodeSignedTampered changes every byte of signed frames: DecodeSigned must reject each.
func TestDecodeSignedTampered(t *testing.T) {
	for name, e := range sampleEnvelopes() {
		frame := mustAppend(t, e, testKey)
		for i := range frame {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(frame)
				b[i] ^= x
				f, err := DecodeSigned(string(b), Limits{}, "", testKey)
				if err == nil {
					t.Fatalf("%s: byte %d ^ %#x accepted: %+v", name, i, x, f)
				}
				// Past magic, version, kind and flags, only the MAC can notice.
				if i >= 5 && !errors.Is(err, ErrSignature) {
					t.Errorf("%s: byte %d ^ %#x: %v, want ErrSignature", name, i, x, err)
				}
			}
		}
		// Dropping the signed flag makes it an unsigned frame with trailing bytes.
		b := bytes.Clone(frame)
		b[4] = 0
		if _, err := DecodeSigned(string(b), Limits{}, "", testKey); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: signed flag cleared: %v, want ErrSignature", name, err)
		}
		if _, err := Decode(string(b), Limits{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: signed flag cleared, no key: %v, want ErrMalformed", name, err)
		}
	}
}

func TestDecodeSignedKeys(t *testing.T) {
	e := sampleEnvelopes()["broadcast"]
	signed := string(mustAppend(t, e, testKey))
	unsigned := string(mustAppend(t, e, nil))

	f, err := Decode(signed, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkFrame(t, f, e, true)
	f, err = DecodeSigned(signed, Limits{}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFrame(t, f, e, true)

	for _, tt := range []struct {
		name  string
		frame string
		key   []byte
		msg   string
	}{
		{"unsigned", unsigned, testKey, "not signed"},
		{"wrong key", signed, []byte("wire-test-kez"), "MAC mismatch"},
		{"longer key", signed, append(bytes.Clone(testKey), '!'), "MAC mismatch"},
		{"shorter key", signed, testKey[:len(testKey)-1], "MAC mismatch"},
		{"empty key", signed, []byte{}, "empty key"},
		{"zero MAC", signed[:len(signed)-MACLen] + strings.Repeat("\x00", MACLen), testKey, "MAC mismatch"},
	} {
		if _, err := DecodeSigned(tt.frame, Limits{}, "", tt.key); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want ErrSignature saying %q", tt.name, err, tt.msg)
		}
	}

	// A key longer than SHA-256's block is hashed first (RFC 2104); it must still round-trip.
	long := bytes.Repeat([]byte("k"), 200)
	if _, err := DecodeSigned(string(mustAppend(t, e, long)), Limits{}, "", long); err != nil {
		t.Errorf("200-byte key: %v", err)
	}
}

func TestUvarint(t *testing.T) {
	tests := []struct {
		in  string
		v   uint64
		n   int
		bad string
	}{
		{"\x00", 0, 1, ""},
		{"\x7f", 127, 1, ""},
		{"\x80\x01", 128, 2, ""},
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 1<<64 - 1, 10, ""},
		{"\x01rest", 1, 1, ""},
		{"", 0, 0, varintTruncated},
		{"\x80", 0, 0, varintTruncated},
		{"\x80\x00", 0, 0, varintOverlong},
		{"\xff\x80\x00", 0, 0, varintOverlong},
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 0, 0, varintOverflow},
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81", 0, 0, varintOverflow},
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 0, 0, varintOverflow},
		{"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 0, 0, varintOverlong},
	}
	for _, tt := range tests {
		v, n, bad := uvarint(tt.in, 0)
		if v != tt.v || n != tt.n || bad != tt.bad {
			t.Errorf("uvarint(%x) = %d, %d, %q; want %d, %d, %q", tt.in, v, n, bad, tt.v, tt.n, tt.bad)
		}
	}
	// At an offset.
	if v, n, bad := uvarint("xx\x80\x01", 2); v != 128 || n != 2 || bad != "" {
		t.Errorf("uvarint at offset 2 = %d, %d, %q", v, n, bad)
	}
}
