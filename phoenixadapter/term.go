package phoenixadapter

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/phxgo/pubsub/internal/etf"
)

// Term is a received message left undecoded (Config.TermPayloads): the message's term, checked in
// full when its frame arrived (every limit of the codec, duplicate keys) but not turned into Go
// values. Decode turns it straight into the Go value a program wants (a struct, say) without building
// a map[string]any first, and pubsub.Message.Decode and pubsub.As do the same for a Term payload;
// Value returns the Go value the adapter delivers without TermPayloads.
type Term struct {
	raw     etf.RawTerm
	maxSize int
}

// Decode stores the term in the value v points to: a struct from a map with binary or atom keys
// (fields named by their `etf:"name"` tag, else their `json:"name"` tag, else their Go name, matched
// exactly or else but for ASCII case; other keys ignored), and slices, maps, strings, numbers, bools,
// pointers and any as docs/phoenix.md lists. A term that does not fit v is an *UnmarshalTypeError
// naming the term and the field.
func (t Term) Decode(v any) error {
	return etf.UnmarshalRawTerm(t.raw, v, etf.Limits{MaxSize: t.maxSize})
}

// DecodePayload is Decode: it makes a Term a pubsub.PayloadDecoder, which Message.Decode uses.
func (t Term) DecodePayload(v any) error { return t.Decode(v) }

// Value returns the term as the adapter delivers messages without Config.TermPayloads: a
// map[string]any, a SocketBroadcast, a string...
func (t Term) Value() (any, error) {
	v, err := etf.DecodeRawTerm(t.raw, etf.Limits{MaxSize: t.maxSize})
	if err != nil {
		return nil, err
	}
	return fromElixir(v), nil
}

// Len is the size of the term's encoding, in bytes.
func (t Term) Len() int { return len(t.raw) }

// decodeFrameTerm is DecodeFrame that leaves the message undecoded, a Term. The frame is checked in
// full; one of another shape is classified as DecodeFrame classifies it.
func decodeFrameTerm(b string, maxSize int) (Frame, error) {
	lim := etf.Limits{MaxSize: maxSize}
	var el [6]etf.RawTerm
	if err := etf.UnmarshalString(b, &el, lim); err != nil || el[5] == "" {
		var te *etf.UnmarshalTypeError
		if err == nil || errors.As(err, &te) { // not a 6-tuple
			return DecodeFrame(b, maxSize)
		}
		return Frame{}, err
	}
	if f, ok := frameOfRaw(&el); ok {
		f.Payload = Term{raw: el[4], maxSize: maxSize}
		return f, nil
	}
	var t [6]any
	for i, x := range el {
		if i != 4 {
			var err error
			if t[i], err = etf.DecodeRawTerm(x, lim); err != nil {
				return Frame{}, err
			}
		}
	}
	f, err := frameOf(etf.Tuple(t[:]))
	f.Payload = Term{raw: el[4], maxSize: maxSize}
	return f, err
}

// mayBeGoPayload reports whether t may be {:phxgo_payload, type name, msgpack} (Config.GoPayloads): a
// 3-tuple, which Value then tells.
func (t Term) mayBeGoPayload() bool { return strings.HasPrefix(string(t.raw), "h\x03") }

// frameOfRaw reads the frame's elements in their common encodings (the integer 3, ASCII atoms, a
// binary topic) without decoding them; false means "decode them".
func frameOfRaw(el *[6]etf.RawTerm) (Frame, bool) {
	var f Frame
	mode, rest, ok1 := asciiAtom(string(el[1]))
	node, rest2, ok2 := asciiAtom(string(el[2]))
	disp, rest3, ok3 := asciiAtom(string(el[5]))
	topic := string(el[3])
	if el[0] != "a\x03" || !ok1 || !ok2 || !ok3 || rest != "" || rest2 != "" || rest3 != "" ||
		len(topic) < 5 || topic[0] != 'm' || int(binary.BigEndian.Uint32([]byte(topic[1:5]))) != len(topic)-5 {
		return f, false
	}
	switch mode {
	case "except":
	case "only":
		f.Direct = true
	default:
		return f, false
	}
	f.Node, f.NodeIsAtom, f.Topic, f.Dispatcher = node, true, topic[5:], disp
	return f, true
}
