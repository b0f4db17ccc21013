package pubsub

import (
	"slices"
	"time"

	"github.com/phxgo/pubsub/internal/wire"
)

// Sealing a frame where it is sent (FrameSealer, Frame.Seal).
//
// Without it the PubSub numbers a frame just before it calls Broadcast, and concurrent broadcasters may
// reach the adapter's queue in another order than they took their numbers: a broadcaster that is
// descheduled between the two lets every other one overtake it. With 1,024 concurrent broadcasters on
// two CPUs the distance exceeds the receivers' replay window (internal/replay.Size) several times a
// second: the receiver reports frames as lost that arrive a moment later (docs/benchmarks.md, "Issue 8
// performance rows"). An adapter that sends every frame through one queue seals each frame as it takes
// it from the queue, so numbers follow the order of the wire exactly.

// FrameSealer is implemented by adapters that send every caller's frames through one queue, in the
// order they take them from it (the Redis adapter). When SealsFrames reports true, the PubSub hands
// Broadcast and DirectBroadcast frames that are not numbered yet, with Frame.Seal set, and the adapter
// seals each one as it takes it for sending. Frames then reach every receiver in the order of their
// numbers however many goroutines broadcast at once, and a frame that is never sent (its caller's
// context ended while it was queued, the adapter closed) uses no number, so no receiver waits for it.
type FrameSealer interface {
	SealsFrames() bool
}

// Sealer numbers and, with Config.Secrets, signs one frame (Frame.Seal).
type Sealer interface {
	// SealedLen is the length of the sealed frame: len(Frame.Bytes), plus the signature with
	// Config.Secrets.
	SealedLen() int
	// AppendSealed appends the sealed frame, the bytes to send, to dst and returns the extended slice.
	// Each call takes the next number of the frame's stream: call it once for a frame that is sent,
	// never for one that is not, in the order the frames are sent, and before the Broadcast or
	// DirectBroadcast call that carries the frame returns.
	AppendSealed(dst []byte) []byte
}

// sealer is the Sealer of one frame being sent: the send's pooled buffer (frameBuf), while its
// Broadcast call lasts.
type sealer struct {
	ps     *PubSub
	kind   wire.Kind
	target string
	route  int
	frame  []byte // encoded, not numbered
}

func (s *sealer) SealedLen() int { return len(s.frame) + macLen(s.ps.signingKey) }

func (s *sealer) AppendSealed(dst []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, s.SealedLen()) // the signature is appended in place
	dst = append(dst, s.frame...)
	sealed := s.ps.seal(dst[start:], s.kind, s.target, s.route)
	return dst[:start+len(sealed)]
}

// seal numbers frame in its stream and stamps its send time, signs it with Config.Secrets, and
// returns it: frame itself, or extended by the signature (in place when it has the capacity).
func (ps *PubSub) seal(frame []byte, kind wire.Kind, target string, route int) []byte {
	wire.StampSeq(frame, ps.out.next(kind, target, route))
	if ps.signingKey != nil {
		// Receivers check the send time of signed frames only (replays): it must be exact then.
		wire.StampTime(frame, time.Now().UnixMilli())
		return wire.Sign(frame, ps.name, ps.signingKey)
	}
	wire.StampTime(frame, ps.clock.Load()/int64(time.Millisecond)) // informational: to 100 ms
	return frame
}
