package redisadapter_test

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
	"github.com/phxgo/pubsub/redisadapter"
)

// bombList is a registered payload type whose decoder would preallocate whatever length a msgpack
// header claims.
type bombList []int64

const bombType = "phxgo.redisadapter_test.bombList"

// garbageFrames builds hostile frames for the PubSub whose observer node is "a".
type garbageFrames struct {
	t     testing.TB
	scope string // the PubSub's name
}

func newGarbage(t testing.TB) *garbageFrames { return &garbageFrames{t: t} }

// frame encodes a frame from node "mallory" (signed with key unless nil).
func (g *garbageFrames) frame(e wire.Envelope, key []byte) string {
	g.t.Helper()
	e.Origin = "mallory"
	if e.Topic == "" && e.Kind != wire.KindProbe {
		e.Topic = "t"
	}
	// Each frame from a new incarnation (the first frame of its stream), fresh, signed for the PubSub
	// under test: so that what is dropped is dropped for the fault the case builds, never as a replay,
	// and no frame dropped before the sequence check leaves a hole (a gap) in mallory's stream.
	rand.Read(e.Incarnation[:])
	e.Seq, e.Time, e.Scope = 1, time.Now().UnixMilli(), g.scope
	b, err := wire.Append(nil, &e, key)
	if err != nil {
		g.t.Fatal(err)
	}
	return string(b)
}

func (g *garbageFrames) valid(key []byte) string {
	return g.frame(wire.Envelope{Kind: wire.KindBroadcast, PayloadType: wire.TypeString, Payload: []byte("garbage that looks fine")}, key)
}

// bomb is a frame with a well-formed envelope whose msgpack payload of a registered type declares
// an enormous length.
func (g *garbageFrames) bomb(payload string, key []byte) string {
	return g.frame(wire.Envelope{Kind: wire.KindBroadcast, PayloadType: bombType, Payload: []byte(payload)}, key)
}

type garbage struct {
	what    string
	channel string // "bcast" or "node" (observer a's own channel)
	frame   string
	reason  string // the Stats counter it must land in
}

// dropped returns the drop counter named reason: the adapter's for frames over its size limit, the
// PubSub's for the rest.
func dropped(st pubsub.Stats, ast redisadapter.Stats, reason string) uint64 {
	return map[string]uint64{
		"too_large":    ast.DroppedTooLarge + st.DroppedTooLarge,
		"malformed":    st.DroppedMalformed,
		"version":      st.DroppedVersion,
		"signature":    st.DroppedSignature,
		"dispatcher":   st.DroppedDispatcher,
		"type":         st.DroppedType,
		"misaddressed": st.DroppedMisaddressed,
		"duplicate":    st.DroppedDuplicate,
		"stale":        st.DroppedStale,
		"reserved":     st.DroppedReserved,
	}[reason]
}

var dropReasons = []string{"too_large", "malformed", "version", "signature", "dispatcher", "type", "misaddressed", "duplicate", "stale", "reserved"}

// Garbage published straight onto a PubSub's channels by a plain client on a real Redis: every frame
// is dropped and counted under its reason, none reaches a subscriber, the node keeps delivering real
// broadcasts in between, and memory stays flat even under a barrage of msgpack bombs.
func TestGarbageRealRedis(t *testing.T) {
	url := realRedisURL(t)
	if err := pubsub.RegisterType[bombList](bombType); err != nil {
		t.Fatal(err)
	}
	const maxSize = 64 << 10
	secret := []byte("0123456789abcdef0123456789abcdef")
	g := newGarbage(t)
	rdb := plainClient(t, url)
	name := uniqueName(t)
	g.scope = name
	unknownType := g.frame(wire.Envelope{Kind: wire.KindBroadcast, PayloadType: "no.such.Type", Payload: []byte{0x01}}, nil)
	g.scope = "another PubSub"
	otherScope := g.valid(secret)
	g.scope = name

	valid := g.valid(nil)
	flipped := []byte(g.valid(secret))
	flipped[len(flipped)-wire.MACLen-1] ^= 1 // payload byte changed after signing
	wrongVersion := []byte(valid)
	wrongVersion[2] = 1
	// A field longer than the name limit (255), built by hand since wire.Append refuses it.
	longOrigin := []byte(valid[:wire.HeaderLen])
	longOrigin = binary.AppendUvarint(longOrigin, 300)
	longOrigin = append(longOrigin, strings.Repeat("o", 300)...)
	longOrigin = append(longOrigin, 0, 1, 't', 0, 0, 0)
	random := make([]byte, 1000)
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	random[0] = 0 // not "PX"

	plain := []garbage{
		{"oversize", "bcast", "PX" + strings.Repeat("\x01", maxSize), "too_large"},
		{"oversize, 8 MiB", "node", strings.Repeat("\x00", 8<<20), "too_large"},
		{"field over its limit", "bcast", string(longOrigin), "too_large"},
		{"empty", "bcast", "", "malformed"},
		{"random bytes", "bcast", string(random), "malformed"},
		{"random bytes", "node", string(random), "malformed"},
		{"text", "node", "hello", "malformed"},
		{"wrong version", "bcast", string(wrongVersion), "version"},
		{"wrong version", "node", string(wrongVersion), "version"},
		{"truncated in the magic", "bcast", valid[:1], "malformed"},
		{"truncated after the version", "bcast", valid[:3], "malformed"},
		{"truncated in the header", "bcast", valid[:wire.HeaderLen-1], "malformed"},
		{"truncated after the header", "bcast", valid[:wire.HeaderLen], "malformed"},
		{"truncated in the payload", "bcast", valid[:len(valid)-1], "malformed"},
		{"trailing byte", "bcast", valid + "x", "malformed"},
		{"array32 bomb", "bcast", g.bomb("\xdd\xff\xff\xff\xff", nil), "malformed"},
		{"map32 bomb", "bcast", g.bomb("\xdf\xff\xff\xff\xff", nil), "malformed"},
		{"bin32 bomb", "bcast", g.bomb("\xc6\xff\xff\xff\xff", nil), "malformed"},
		{"deep nesting", "bcast", g.bomb(strings.Repeat("\x91", 10000)+"\x01", nil), "malformed"},
		{"unknown type", "bcast", unknownType, "type"},
		{"unknown dispatcher", "bcast", g.frame(wire.Envelope{Kind: wire.KindBroadcast, Dispatcher: "nope", PayloadType: wire.TypeString, Payload: []byte("x")}, nil), "dispatcher"},
		{"direct frame for another node", "node", g.frame(wire.Envelope{Kind: wire.KindDirect, Target: "z", PayloadType: wire.TypeString, Payload: []byte("x")}, nil), "misaddressed"},
		{"direct frame for another node, on the broadcast channel", "bcast", g.frame(wire.Envelope{Kind: wire.KindDirect, Target: "z", PayloadType: wire.TypeString, Payload: []byte("x")}, nil), "misaddressed"},
		{"spoofed gap", "bcast", g.frame(wire.Envelope{Kind: wire.KindBroadcast, Topic: pubsub.GapTopic, PayloadType: wire.TypeString, Payload: []byte("x")}, nil), "reserved"},
		{"replayed unknown-type frame", "bcast", unknownType, "duplicate"},
	}
	signed := []garbage{
		{"spoofed gap, signed", "bcast", g.frame(wire.Envelope{Kind: wire.KindBroadcast, Topic: pubsub.GapTopic, PayloadType: wire.TypeString, Payload: []byte("x")}, secret), "reserved"},
		{"signed for another PubSub", "bcast", otherScope, "signature"},
		{"unsigned", "bcast", valid, "signature"},
		{"unsigned", "node", g.frame(wire.Envelope{Kind: wire.KindDirect, Target: "a", PayloadType: wire.TypeString, Payload: []byte("x")}, nil), "signature"},
		{"signed with another key", "bcast", g.valid([]byte("another key, 32 bytes long......")), "signature"},
		{"changed after signing", "bcast", string(flipped), "signature"},
		{"unsigned, truncated", "bcast", valid[:wire.HeaderLen+3], "signature"},
		{"wrong version", "bcast", string(wrongVersion), "version"},
		{"oversize", "bcast", strings.Repeat("\x00", maxSize+1), "too_large"},
		{"validly signed array32 bomb", "bcast", g.bomb("\xdd\xff\xff\xff\xff", secret), "malformed"},
		{"validly signed map32 bomb", "node", g.frame(wire.Envelope{Kind: wire.KindDirect, Target: "a", PayloadType: bombType, Payload: []byte("\xdf\xff\xff\xff\xff")}, secret), "malformed"},
	}

	for _, tc := range []struct {
		what    string
		secret  []byte
		garbage []garbage
	}{{"no secret", nil, plain}, {"secret", secret, signed}} {
		t.Run(tc.what, func(t *testing.T) {
			cfg := func(node string) redisadapter.Config {
				return redisadapter.Config{URL: url, NodeName: node, MaxMessageSize: maxSize}
			}
			var secrets [][]byte
			if tc.secret != nil {
				secrets = [][]byte{tc.secret}
			}
			a, aa := startNode(t, name, cfg("a"), pubsub.Config{Secrets: secrets})
			b, _ := startNode(t, name, cfg("b"), pubsub.Config{Secrets: secrets})
			s := newSub(t, a, pubsub.WithMailboxSize(1024))
			s.Subscribe("t")
			s.Subscribe(pubsub.GapTopic)
			channels := map[string]string{"bcast": "phx:{" + name + "}:broadcast", "node": "phx:{" + name + "}:node:a"}
			want := map[string]uint64{}
			for i, junk := range tc.garbage {
				if err := rdb.Publish(ctx, channels[junk.channel], junk.frame).Err(); err != nil {
					t.Fatal(err)
				}
				want[junk.reason]++
				// The node still delivers, in order after the garbage (one subscription, so Redis keeps
				// the order of what it sent to it), and the garbage landed in its counter.
				real := "real " + junk.what
				if err := b.Broadcast(ctx, "t", real); err != nil {
					t.Fatal(err)
				}
				if msg := receive(t, s); msg.Payload != real {
					t.Fatalf("after %q: received %+v, want %q", junk.what, msg, real)
				}
				// (The counters move just after the delivery: wait a moment for them.)
				var st pubsub.Stats
				var ast redisadapter.Stats
				counted := func() bool {
					st, ast = a.Stats(), aa.Stats()
					for _, reason := range dropReasons {
						if dropped(st, ast, reason) != want[reason] {
							return false
						}
					}
					return ast.Received == uint64(i+1) && st.Gaps == 0 && st.GapsReported == 0 && ast.Reconnects == 0
				}
				deadline := time.Now().Add(2 * time.Second)
				for !counted() && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if !counted() {
					t.Fatalf("after garbage %d (%s on %s): stats %+v, adapter's %+v; want drops %v, %d received, no gap, no reconnect",
						i, junk.what, junk.channel, st, ast, want, i+1)
				}
			}

			// A barrage of bombs: memory stays flat (one decoded bomb would ask for gigabytes).
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			bombs := []string{"\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff", "\xdb\xff\xff\xff\xff", strings.Repeat("\x91", 1000)}
			const rounds = 500
			pipe := rdb.Pipeline()
			for range rounds {
				for _, bomb := range bombs {
					pipe.Publish(ctx, channels["bcast"], g.bomb(bomb, tc.secret)) // each a new frame, not a replay
				}
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			malformed := want["malformed"] + rounds*uint64(len(bombs))
			eventually(t, 10*time.Second, "every bomb dropped as malformed", func() bool {
				return a.Stats().DroppedMalformed == malformed
			})
			runtime.GC()
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			grown := int64(after.HeapInuse) - int64(before.HeapInuse)
			t.Logf("%d bombs: %d KiB allocated in all, heap in use %+d KiB", rounds*len(bombs), allocated>>10, grown>>10)
			// The bound: the frames themselves (~1 KiB each at most) read by go-redis and by the plain
			// client's pipeline, a few times over for the race detector's bookkeeping. A single decoded
			// bomb would allocate gigabytes.
			if allocated > 64<<20 || grown > 16<<20 {
				t.Errorf("the bombs cost %d KiB of allocations and %+d KiB of heap", allocated>>10, grown>>10)
			}

			if err := b.Broadcast(ctx, "t", "still works"); err != nil {
				t.Fatal(err)
			}
			if msg := receive(t, s); msg.Payload != "still works" {
				t.Fatalf("received %+v", msg)
			}
			if st, ast := a.Stats(), aa.Stats(); st.Dropped()+ast.DroppedTooLarge != uint64(len(tc.garbage)+rounds*len(bombs)) {
				t.Errorf("stats %+v, adapter's %+v: %d dropped, want %d", st, ast, st.Dropped()+ast.DroppedTooLarge, len(tc.garbage)+rounds*len(bombs))
			}
		})
	}
}
