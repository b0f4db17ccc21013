package wire

import (
	"encoding/binary"
	"fmt"
)

// A publisher that must number frames in the order it sends them gets them already encoded. These
// functions let it read the kind, stamp the sequence number and sign in place, without re-encoding.
// They are for frames Append produced: they check only what they touch.

// FrameKind returns the kind of an encoded frame, or 0 when frame is too short to be one or lacks
// the magic.
func FrameKind(frame []byte) Kind {
	if len(frame) < HeaderLen || string(frame[:len(Magic)]) != Magic {
		return 0
	}
	return Kind(frame[3])
}

// StampSeq overwrites the sequence number of an encoded frame in place. Stamping a signed frame
// invalidates its MAC: stamp first, then Sign. It panics if frame is too short to be a frame or
// lacks the magic.
func StampSeq(frame []byte, seq uint64) {
	mustFrame(frame, "StampSeq")
	binary.BigEndian.PutUint64(frame[SeqOffset:TimeOffset], seq)
}

// StampTime overwrites the send time (Unix milliseconds) of an encoded frame in place, like StampSeq.
func StampTime(frame []byte, ms int64) {
	mustFrame(frame, "StampTime")
	binary.BigEndian.PutUint64(frame[TimeOffset:HeaderLen], uint64(ms))
}

// Sign signs an encoded frame with key for scope (the PubSub's name): it sets the signed flag and
// appends HMAC-SHA256(key, domain ‖ uvarint(len(scope)) ‖ scope ‖ frame) as the 32-byte trailer, where
// domain is "phxgo/pubsub wire v2" and a zero byte. It returns the extended slice (it allocates only
// when frame lacks the capacity).
// A frame that is already signed is signed again: its trailer is replaced, so Sign after StampSeq
// gives a valid frame either way. The result is what Append with the same key would have produced.
// It panics if key is empty, or if frame is too short to be a frame or lacks the magic.
func Sign(frame []byte, scope string, key []byte) []byte {
	mustFrame(frame, "Sign")
	if len(key) == 0 {
		panic("wire: Sign with an empty key")
	}
	if frame[4]&FlagSigned != 0 {
		if len(frame) < HeaderLen+MACLen {
			panic(fmt.Sprintf("wire: Sign: signed frame of %d bytes has no MAC", len(frame)))
		}
		frame = frame[:len(frame)-MACLen]
	}
	frame[4] |= FlagSigned
	return appendMAC(frame, scope, frame, key)
}

func mustFrame(frame []byte, op string) {
	if len(frame) < HeaderLen || string(frame[:len(Magic)]) != Magic {
		panic(fmt.Sprintf("wire: %s: %d bytes are not a frame", op, len(frame)))
	}
}
