package wire

// Hard caps of the format. Append refuses anything larger, and Limits can only tighten them.
const (
	MaxNameLen  = 255      // origin, target, dispatcher and payload type, in bytes
	MaxTopicLen = 4096     // topic, in bytes
	MaxFrameLen = 64 << 20 // a whole frame including its MAC, in bytes
)

// DefaultMaxFrame is the frame size a receiver accepts when Limits.MaxFrame is 0.
const DefaultMaxFrame = 1 << 20

// Limits bounds what Decode accepts. A field that is 0 (or negative) takes its default; a value above
// the format's hard cap (MaxFrameLen, MaxNameLen, MaxTopicLen) acts as the hard cap, since no conforming
// sender produces more.
type Limits struct {
	MaxFrame int // total frame bytes, including MAC; 0 = DefaultMaxFrame (1 MiB)
	MaxName  int // origin/target/dispatcher/payload type bytes; 0 = MaxNameLen (255)
	MaxTopic int // topic bytes; 0 = MaxTopicLen (4096)
}

// effective returns l with defaults filled in and hard caps applied.
func (l Limits) effective() Limits {
	return Limits{
		MaxFrame: limit(l.MaxFrame, DefaultMaxFrame, MaxFrameLen),
		MaxName:  limit(l.MaxName, MaxNameLen, MaxNameLen),
		MaxTopic: limit(l.MaxTopic, MaxTopicLen, MaxTopicLen),
	}
}

func limit(v, def, hard int) int {
	if v <= 0 {
		return def
	}
	return min(v, hard)
}
