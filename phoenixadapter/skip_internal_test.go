package phoenixadapter

import (
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/ratelog"
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

// nopHost takes every message and does nothing with it.
type nopHost struct{}

func (nopHost) Name() string                             { return "MyApp.PubSub" }
func (nopHost) Incarnation() [16]byte                    { return [16]byte{} }
func (nopHost) Logger() *slog.Logger                     { return slog.New(slog.DiscardHandler) }
func (nopHost) HandleFrame(string) error                 { return nil }
func (nopHost) HandleMessage(pubsub.RemoteMessage) error { return nil }
func (nopHost) HandleGap(error)                          {}

func benchHandle(b *testing.B, node, frame string) {
	a, err := New(Config{URL: "redis://127.0.0.1:1", NodeName: node})
	if err != nil {
		b.Fatal(err)
	}
	a.host, a.channel, a.rlog = nopHost{}, "c", ratelog.New(nopHost{}.Logger(), time.Second)
	raw, err := os.ReadFile("../../shared/interop/golden/" + frame + ".hex")
	if err != nil {
		b.Fatal(err)
	}
	fb, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		b.Fatal(err)
	}
	f := string(fb)
	b.ReportAllocs()
	for b.Loop() {
		a.handle(f)
	}
}

// What a node pays for a frame the receive rule skips (its own broadcast coming back) against one it
// decodes and delivers (the baseline, same run).
func BenchmarkHandleOwnBroadcast(b *testing.B) {
	benchHandle(b, "a@127.0.0.1", "pubsub_broadcast_map")
}

func BenchmarkHandleDelivered(b *testing.B) {
	benchHandle(b, "b@127.0.0.1", "pubsub_broadcast_map")
}
