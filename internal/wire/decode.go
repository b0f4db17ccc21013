package wire

import (
	"encoding/binary"
	"fmt"
)

// Decode validates and decodes frame without checking a MAC: a signed frame is accepted, its trailer
// skipped and Frame.Signed set. It is DecodeSigned with no key.
func Decode(frame string, lim Limits) (Frame, error) {
	return DecodeSigned(frame, lim, "")
}

// PeekIncarnation returns the incarnation of a version-2 frame without decoding it, and false when
// frame is too short or lacks the magic and version. It lets a receiver skip its own frames cheaply;
// nothing else about the frame is checked.
func PeekIncarnation(frame string) (inc [16]byte, ok bool) {
	if len(frame) < HeaderLen || frame[:len(Magic)] != Magic || frame[2] != Version {
		return inc, false
	}
	copy(inc[:], frame[IncarnationOffset:SeqOffset])
	return inc, true
}

// DecodeSigned validates and decodes frame. Its size is checked against lim before anything else,
// then the header, then (with keys) the MAC, then every field in order: each length is checked against
// the bytes that remain and against its limit before it is used.
//
// With keys, an unsigned frame, or a MAC that no key makes for scope and the frame (see Sign), is
// ErrSignature (compared in constant time). Several keys let a PubSub rotate its secret: a frame
// signed with any of them is accepted. With no key a signed frame is accepted unverified. Other
// errors wrap ErrTooLarge, ErrMalformed or ErrVersion.
//
// On success the Frame's strings alias frame and DecodeSigned allocates nothing. It never panics.
func DecodeSigned(frame string, lim Limits, scope string, keys ...[]byte) (Frame, error) {
	var f Frame
	lim = lim.effective()
	if len(frame) > lim.MaxFrame {
		return Frame{}, fmt.Errorf("%w: %d bytes exceeds limit %d", ErrTooLarge, len(frame), lim.MaxFrame)
	}
	if len(frame) < len(Magic) || frame[:len(Magic)] != Magic {
		return Frame{}, fmt.Errorf("%w: no %q magic", ErrMalformed, Magic)
	}
	if len(frame) <= len(Magic) {
		return Frame{}, fmt.Errorf("%w: truncated after magic", ErrMalformed)
	}
	if v := frame[2]; v != Version {
		return Frame{}, fmt.Errorf("%w: version %d, want %d", ErrVersion, v, Version)
	}
	if len(frame) < HeaderLen {
		return Frame{}, fmt.Errorf("%w: header truncated at %d of %d bytes", ErrMalformed, len(frame), HeaderLen)
	}
	f.Kind = Kind(frame[3])
	if !f.Kind.valid() {
		return Frame{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, frame[3])
	}
	flags := frame[4]
	if flags&^FlagSigned != 0 {
		return Frame{}, fmt.Errorf("%w: reserved flag bits set (flags %#02x)", ErrMalformed, flags)
	}
	copy(f.Incarnation[:], frame[IncarnationOffset:SeqOffset])
	f.Seq = binary.BigEndian.Uint64(stringBytes(frame[SeqOffset:TimeOffset]))
	f.Time = int64(binary.BigEndian.Uint64(stringBytes(frame[TimeOffset:HeaderLen])))

	body := frame
	if flags&FlagSigned != 0 {
		if len(frame) < HeaderLen+MACLen {
			return Frame{}, fmt.Errorf("%w: signed frame of %d bytes has no room for its %d-byte MAC", ErrMalformed, len(frame), MACLen)
		}
		f.Signed = true
		body = frame[:len(frame)-MACLen]
	}
	if anyKey(keys) {
		if !f.Signed {
			return Frame{}, fmt.Errorf("%w: frame is not signed", ErrSignature)
		}
		if err := verify(scope, body, frame[len(body):], keys); err != nil {
			return Frame{}, err
		}
	}

	pos := HeaderLen
	var err error
	if f.Origin, pos, err = field(body, pos, "origin", lim.MaxName); err != nil {
		return Frame{}, err
	}
	if f.Target, pos, err = field(body, pos, "target", lim.MaxName); err != nil {
		return Frame{}, err
	}
	if f.Topic, pos, err = field(body, pos, "topic", lim.MaxTopic); err != nil {
		return Frame{}, err
	}
	if f.Dispatcher, pos, err = field(body, pos, "dispatcher", lim.MaxName); err != nil {
		return Frame{}, err
	}
	if f.PayloadType, pos, err = field(body, pos, "payload type", lim.MaxName); err != nil {
		return Frame{}, err
	}
	if f.Payload, pos, err = field(body, pos, "payload", len(body)); err != nil {
		return Frame{}, err
	}
	if pos != len(body) {
		return Frame{}, fmt.Errorf("%w: %d trailing bytes after payload", ErrMalformed, len(body)-pos)
	}
	if bad := checkRules(f.Kind, f.Origin, &f.Incarnation, f.Target, f.Topic, f.Dispatcher, f.PayloadType, len(f.Payload)); bad != "" {
		return Frame{}, fmt.Errorf("%w: %s (kind %v)", ErrMalformed, bad, f.Kind)
	}
	return f, nil
}

// field reads the length-prefixed field at s[pos:], of at most max bytes, and returns it (aliasing s)
// with the position after it.
func field(s string, pos int, name string, max int) (string, int, error) {
	n, vn, bad := uvarint(s, pos)
	if bad != "" {
		return "", 0, fmt.Errorf("%w: %s length varint at offset %d %s", ErrMalformed, name, pos, bad)
	}
	pos += vn
	if rem := len(s) - pos; n > uint64(rem) {
		return "", 0, fmt.Errorf("%w: %s length %d exceeds remaining %d bytes", ErrMalformed, name, n, rem)
	}
	if n > uint64(max) {
		return "", 0, fmt.Errorf("%w: %s length %d exceeds limit %d", ErrTooLarge, name, n, max)
	}
	end := pos + int(n)
	return s[pos:end], end, nil
}
