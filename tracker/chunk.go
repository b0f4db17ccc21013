package tracker

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// A transfer answer too large for one gossip message travels as a stream: a sequence of messages (the
// parts of a full state, then its context; or one large delta), each cut into chunks of at most
// MaxGossipSize bytes. A chunk is the gossip message
//
//	[1, 6, name, vsn, [], body]    body: msgpack bin of [id, seq, flags, data]
//
// id names the stream (new for each one the sender starts), seq is the chunk's index in the stream (from 0,
// no holes), data a piece of the current message; flags has chunkEndsMessage on the last chunk of a
// message (the receiver then decodes and merges that message) and chunkEndsStream on the last chunk of the
// stream. The receiver grants credit (credit.go): the sender never sends a chunk beyond what the receiver
// allowed, so a stream runs as fast as the receiver merges and never fills Redis's output buffer of a
// subscriber. A chunk out of sequence (a lost one: a gap) abandons the stream; the receiver asks again and
// the sender starts a new one: streams restart rather than resume, and what was merged stays merged.

// chunkHeader is the metadata of one chunk.
type chunkHeader struct {
	id    uint64
	seq   int
	flags uint8
}

const (
	chunkEndsMessage uint8 = 1 << iota // the last chunk of a message of the stream
	chunkEndsStream                    // the last chunk of the stream (ends its message too)
)

// maxChunks bounds the chunks of one stream (MaxTransferSize / MaxGossipSize is far below it).
const maxChunks = 1 << 24

// chunkOverhead is what a chunk adds to its data, at most: the gossip header with a name of up to
// wire.MaxNameLen bytes and the chunk header.
const chunkOverhead = 64 + wire.MaxNameLen

var errBadChunk = errors.New("tracker: bad chunk")

// chunkPiece is how many data bytes a chunk from from may carry under maxSize.
func chunkPiece(from replicaRef, maxSize int) (int, error) {
	piece := maxSize - chunkOverhead - len(from.Name)
	if piece <= 0 {
		return 0, fmt.Errorf("tracker: MaxGossipSize %d leaves no room for a chunk", maxSize)
	}
	return piece, nil
}

// cutMessage cuts one encoded message of a stream into chunk messages, numbered from seq; last says
// whether it ends the stream.
func cutMessage(from replicaRef, id uint64, seq int, b []byte, piece int, last bool) ([][]byte, error) {
	count := max(1, (len(b)+piece-1)/piece)
	out := make([][]byte, 0, count)
	for i := range count {
		h := chunkHeader{id: id, seq: seq + i}
		if i == count-1 {
			h.flags = chunkEndsMessage
			if last {
				h.flags |= chunkEndsStream
			}
		}
		body, err := encodeChunkBody(h, b[i*piece:min(len(b), (i+1)*piece)])
		if err != nil {
			return nil, err
		}
		m, err := encodeGossip(gossip{kind: gossipChunk, from: from, clocks: causalContext{}, body: body})
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func encodeChunkBody(h chunkHeader, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(data) + 32)
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	var err error
	check := func(e error) {
		if err == nil {
			err = e
		}
	}
	check(enc.EncodeArrayLen(4))
	check(enc.EncodeUint(h.id))
	check(enc.EncodeUint(uint64(h.seq)))
	check(enc.EncodeUint(uint64(h.flags)))
	check(enc.EncodeBytes(data))
	return buf.Bytes(), err
}

// decodeChunkBody validates and decodes a chunk's body. data aliases body.
func decodeChunkBody(body []byte) (h chunkHeader, data []byte, err error) {
	bad := func(format string, args ...any) (chunkHeader, []byte, error) {
		return chunkHeader{}, nil, fmt.Errorf("%w: "+format, append([]any{errBadChunk}, args...)...)
	}
	if err := wire.CheckMsgpack(body, 2); err != nil {
		return bad("%v", err)
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	if n, err := d.DecodeArrayLen(); err != nil || n != 4 {
		return bad("want a 4-element array")
	}
	var f [3]uint64
	for i := range f {
		if f[i], err = d.DecodeUint64(); err != nil {
			return bad("header field %d", i)
		}
	}
	switch {
	case f[1] >= maxChunks:
		return bad("seq %d", f[1])
	case f[2] > uint64(chunkEndsMessage|chunkEndsStream), f[2] == uint64(chunkEndsStream):
		return bad("flags %d", f[2])
	}
	h = chunkHeader{id: f[0], seq: int(f[1]), flags: uint8(f[2])}
	if data, err = d.DecodeBytes(); err != nil || len(data) == 0 {
		return bad("data")
	}
	return h, data, nil
}
