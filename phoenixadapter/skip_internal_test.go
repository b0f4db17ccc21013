package phoenixadapter

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func golden(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile("../../shared/interop/golden/" + name + ".hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// notForUs skips exactly what the receive rule skips, in OTP 25's and OTP 26's encodings, and leaves
// everything else to the decoder.
func TestNotForUs(t *testing.T) {
	for _, tt := range []struct {
		node, frame string
		skip        bool
	}{
		{"a@127.0.0.1", "pubsub_broadcast_string", true},        // our own broadcast
		{"a@127.0.0.1", "otp26/pubsub_broadcast_string", true},  // the same, UTF-8 atoms
		{"b@127.0.0.1", "pubsub_broadcast_string", false},       // a's broadcast, for b
		{"a@127.0.0.1", "pubsub_direct_broadcast_other", true},  // to b@
		{"b@127.0.0.1", "pubsub_direct_broadcast_other", false}, // to b@, for b
		{"a@127.0.0.1", "pubsub_compressed6_big_map", false},    // compressed: decode it
		{"a@127.0.0.1", "tracker_heartbeat_empty", true},        // a's gossip
	} {
		a := &Adapter{cfg: Config{NodeName: tt.node}}
		if got := a.notForUs(golden(t, tt.frame)); got != tt.skip {
			t.Errorf("%s on %s: notForUs = %v, want %v", tt.frame, tt.node, got, tt.skip)
		}
	}
	a := &Adapter{cfg: Config{NodeName: "a@127.0.0.1"}}
	for _, f := range []string{"", "\x83h\x06a\x03", "\x83h\x06a\x03w\x06except", "\x83h\x06a\x03w\xffexcept", "\x83h\x06a\x03d\x01\x00", "\x83h\x06a\x03m\x00\x00\x00\x06except"} {
		if a.notForUs(f) {
			t.Errorf("notForUs(%q) = true", f)
		}
	}
}
