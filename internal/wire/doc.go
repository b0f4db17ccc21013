// Package wire is the envelope that carries one PubSub message between nodes: a small, hand-written
// binary frame (magic "PX", version, kind, flags, sender incarnation, sequence number, then
// length-prefixed origin, target, topic, dispatcher, payload type and payload, and an optional
// HMAC-SHA256 trailer). docs/protocol.md specifies it byte by byte.
//
// Frames arrive from Redis, where any client may PUBLISH anything onto our channels, so decoding
// treats every input as hostile: the size is checked against Limits before anything else, every
// length is checked against the bytes that remain and against its limit before it is used, and the
// decoder never panics, never allocates on success and never copies (a Frame's strings alias the
// input). Errors wrap one of ErrTooLarge, ErrMalformed, ErrVersion and ErrSignature, so receivers can
// count dropped frames by reason.
//
// Payloads are opaque here. Those encoded with msgpack must pass CheckMsgpack before they are
// unmarshalled: it verifies, without allocating, that every declared length fits and that nesting is
// bounded, which is what makes msgpack's decoder safe on network bytes.
//
// The package imports nothing of this module and only the standard library.
package wire
