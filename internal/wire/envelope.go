package wire

import "strconv"

// Format constants. docs/protocol.md is the specification.
const (
	// Version is the protocol version this package writes and the only one it reads.
	Version = 2
	// Magic opens every frame.
	Magic = "PX"
	// HeaderLen is the size of the fixed header: magic (2), version, kind, flags (1 each), incarnation
	// (16), seq (8), time (8).
	HeaderLen = TimeOffset + 8
	// IncarnationOffset is where the 16-byte incarnation starts, so that a receiver can recognise its
	// own frames before decoding them (PeekIncarnation).
	IncarnationOffset = len(Magic) + 3
	// SeqOffset is where the 8-byte big-endian sequence number starts, so that a sender can stamp it
	// into an encoded frame (StampSeq).
	SeqOffset = IncarnationOffset + 16
	// TimeOffset is where the 8-byte big-endian send time (Unix milliseconds) starts.
	TimeOffset = SeqOffset + 8
	// MACLen is the size of the HMAC-SHA256 trailer of a signed frame.
	MACLen = 32
	// FlagSigned is the flags bit of a signed frame. All other flag bits are reserved and must be 0.
	FlagSigned = 1 << 0
)

// Payload type names every node knows without registration (docs/protocol.md, "Payload types").
const (
	TypeBytes  = "[]byte" // a []byte payload travels as its raw bytes
	TypeString = "string" // a string payload travels as its raw bytes
)

// Kind says how a frame is addressed.
type Kind uint8

// The kinds of frame. Any other value is malformed.
const (
	KindBroadcast Kind = 1 // to every other node
	KindDirect    Kind = 2 // to the node named in Target
	KindProbe     Kind = 3 // a transport's liveness probe to its own node; never delivered; Payload empty
)

// String returns "broadcast", "direct", "probe", or "Kind(n)" for an unknown kind.
func (k Kind) String() string {
	switch k {
	case KindBroadcast:
		return "broadcast"
	case KindDirect:
		return "direct"
	case KindProbe:
		return "probe"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// valid reports whether k is a known kind.
func (k Kind) valid() bool { return k >= KindBroadcast && k <= KindProbe }

// Envelope is what a sender encodes with Append.
//
// The rules, enforced on both sides: Origin is non-empty; Incarnation is not all zeroes; a broadcast or
// direct frame has a non-empty Topic; a direct frame has a non-empty Target and no other kind has one;
// a probe carries nothing but its header (Target, Topic, Dispatcher, PayloadType and Payload empty).
// Names (Origin, Target, Dispatcher, PayloadType) are at most MaxNameLen bytes, Topic at most
// MaxTopicLen, the whole frame at most MaxFrameLen. Strings are bytes: UTF-8 is expected, not checked.
type Envelope struct {
	// Scope is not encoded: it is bound into the MAC of a signed frame (the PubSub's name), so that a
	// frame signed for one PubSub fails verification on any other that shares the key.
	Scope       string
	Kind        Kind
	Origin      string   // sending node's name
	Incarnation [16]byte // random id of the sending PubSub instance (new at every start)
	Seq         uint64   // sender-assigned sequence number (0 = unsequenced)
	Time        int64    // send time, Unix milliseconds (0 = unknown)
	Target      string   // node name for KindDirect, empty otherwise
	Topic       string
	Dispatcher  string // "" = default dispatcher
	PayloadType string // codec type name ("" allowed)
	Payload     []byte // encoded payload (msgpack, or raw bytes for type "[]byte"/"string")
}

// Frame is what a receiver decodes. Every string aliases the decoded input (zero-copy): keep the input
// alive and unchanged while the Frame is in use, and copy what must outlive it.
type Frame struct {
	Kind        Kind
	Origin      string
	Incarnation [16]byte
	Seq         uint64
	Time        int64
	Target      string
	Topic       string
	Dispatcher  string
	PayloadType string
	Payload     string
	// Signed is set when the frame carries a MAC trailer. From DecodeSigned with a key it means the
	// MAC was verified; from Decode (or DecodeSigned with no key) only that the sender signed it.
	Signed bool
}
