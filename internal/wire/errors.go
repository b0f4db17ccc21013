package wire

import "errors"

// Errors returned by the package. Returned errors wrap exactly one of them (test with errors.Is) and
// add what was wrong, for example "wire: malformed frame: topic length 70000 exceeds remaining 12
// bytes". Receivers count dropped frames by these.
var (
	// ErrTooLarge: the frame, or one of its fields, is larger than the Limits allow.
	ErrTooLarge = errors.New("wire: frame too large")
	// ErrMalformed: the frame (or a msgpack value given to CheckMsgpack) is not well formed.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrVersion: the frame has our magic but a protocol version this package does not speak.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrSignature: a key was given and the frame is unsigned or its MAC does not match.
	ErrSignature = errors.New("wire: bad signature")
	// ErrInvalid: Append was given an envelope (or key) that cannot be encoded.
	ErrInvalid = errors.New("wire: invalid envelope")
)
