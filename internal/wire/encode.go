package wire

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Append encodes e as one frame onto dst and returns the extended slice. With a non-nil key it sets
// the signed flag and appends the MAC (see Sign: it binds e.Scope and every byte of the frame before
// it) as a 32-byte trailer; an empty non-nil key is refused.
//
// Append returns dst unchanged and an error wrapping ErrInvalid when e breaks a rule of Envelope: an
// unknown Kind, a missing or misplaced field, a name longer than MaxNameLen, a topic longer than
// MaxTopicLen, or a frame longer than MaxFrameLen. Receivers may accept less (Limits): a sender should
// check the length of the frame against what its peers accept.
//
// Append allocates nothing when dst has enough spare capacity.
func Append(dst []byte, e *Envelope, key []byte) ([]byte, error) {
	if e == nil {
		return dst, fmt.Errorf("%w: nil envelope", ErrInvalid)
	}
	if key != nil && len(key) == 0 {
		return dst, fmt.Errorf("%w: empty signing key", ErrInvalid)
	}
	if bad := checkRules(e.Kind, e.Origin, &e.Incarnation, e.Target, e.Topic, e.Dispatcher, e.PayloadType, len(e.Payload)); bad != "" {
		return dst, fmt.Errorf("%w: %s (kind %v)", ErrInvalid, bad, e.Kind)
	}
	for _, f := range [...]struct {
		name string
		n    int
		max  int
	}{
		{"origin", len(e.Origin), MaxNameLen},
		{"target", len(e.Target), MaxNameLen},
		{"topic", len(e.Topic), MaxTopicLen},
		{"dispatcher", len(e.Dispatcher), MaxNameLen},
		{"payload type", len(e.PayloadType), MaxNameLen},
	} {
		if f.n > f.max {
			return dst, fmt.Errorf("%w: %s length %d exceeds %d", ErrInvalid, f.name, f.n, f.max)
		}
	}
	n := HeaderLen +
		fieldLen(len(e.Origin)) + fieldLen(len(e.Target)) + fieldLen(len(e.Topic)) +
		fieldLen(len(e.Dispatcher)) + fieldLen(len(e.PayloadType)) + fieldLen(len(e.Payload))
	flags := byte(0)
	if key != nil {
		n += MACLen
		flags |= FlagSigned
	}
	if n > MaxFrameLen {
		return dst, fmt.Errorf("%w: frame length %d exceeds %d", ErrInvalid, n, MaxFrameLen)
	}

	dst = slices.Grow(dst, n)
	start := len(dst)
	dst = append(dst, Magic...)
	dst = append(dst, Version, byte(e.Kind), flags)
	dst = append(dst, e.Incarnation[:]...)
	dst = binary.BigEndian.AppendUint64(dst, e.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Time))
	dst = appendField(dst, e.Origin)
	dst = appendField(dst, e.Target)
	dst = appendField(dst, e.Topic)
	dst = appendField(dst, e.Dispatcher)
	dst = appendField(dst, e.PayloadType)
	dst = binary.AppendUvarint(dst, uint64(len(e.Payload)))
	dst = append(dst, e.Payload...)
	if key != nil {
		dst = appendMAC(dst, e.Scope, dst[start:], key)
	}
	return dst, nil
}

// fieldLen is the encoded size of a length-prefixed field of n bytes.
func fieldLen(n int) int { return uvarintLen(uint64(n)) + n }

func appendField(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
