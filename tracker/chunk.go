package tracker

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// Chunks carry a gossip message larger than MaxGossipSize (a full-state transfer, a large delta): the
// message is encoded whole, cut into pieces, and each piece travels as a chunk message,
//
//	[1, 6, name, vsn, [], body]    body: msgpack bin of [id, seq, count, size, kind, data]
//
// id names the message (new for each one the sender cuts), seq is the piece's index (0..count-1), size the
// whole message's length and kind its gossip kind; data is the piece. A receiver assembles the pieces of a
// sender in order and handles the whole as if it had arrived in one message. A chunk out of sequence (a
// lost piece: a gap) abandons the message; the receiver asks again at its next clock sample, and the
// sender cuts a new message: transfers restart rather than resume. Receivers accept chunks only where the
// whole would be accepted (see shard.receiveChunk) and hold at most one partial message per sender, of at
// most MaxTransferSize bytes.

// chunkHeader is the metadata of one chunk.
type chunkHeader struct {
	id    uint64
	seq   int
	count int
	size  int
	kind  gossipKind
}

// maxChunks bounds the pieces of one message (MaxTransferSize / MaxGossipSize is far below it).
const maxChunks = 1 << 20

// chunkOverhead is what a chunk adds to its data, at most: the gossip header with a name of up to
// wire.MaxNameLen bytes and the chunk header.
const chunkOverhead = 64 + wire.MaxNameLen

var errBadChunk = errors.New("tracker: bad chunk")

// chunkGossip cuts an encoded gossip message of kind into chunk messages of at most maxSize bytes each.
func chunkGossip(from replicaRef, kind gossipKind, b []byte, maxSize int, id uint64) ([][]byte, error) {
	piece := maxSize - chunkOverhead - len(from.Name)
	if piece <= 0 {
		return nil, fmt.Errorf("tracker: MaxGossipSize %d leaves no room for a chunk", maxSize)
	}
	count := (len(b) + piece - 1) / piece
	if count > maxChunks {
		return nil, fmt.Errorf("tracker: a message of %d bytes needs %d chunks, more than %d", len(b), count, maxChunks)
	}
	out := make([][]byte, 0, count)
	for seq := range count {
		data := b[seq*piece : min(len(b), (seq+1)*piece)]
		body, err := encodeChunkBody(chunkHeader{id: id, seq: seq, count: count, size: len(b), kind: kind}, data)
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
	check(enc.EncodeArrayLen(6))
	check(enc.EncodeUint(h.id))
	check(enc.EncodeUint(uint64(h.seq)))
	check(enc.EncodeUint(uint64(h.count)))
	check(enc.EncodeUint(uint64(h.size)))
	check(enc.EncodeUint(uint64(h.kind)))
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
	if n, err := d.DecodeArrayLen(); err != nil || n != 6 {
		return bad("want a 6-element array")
	}
	var f [5]uint64
	for i := range f {
		if f[i], err = d.DecodeUint64(); err != nil {
			return bad("header field %d", i)
		}
	}
	h = chunkHeader{id: f[0]}
	switch {
	case f[2] == 0 || f[2] > maxChunks:
		return bad("count %d", f[2])
	case f[1] >= f[2]:
		return bad("seq %d of %d", f[1], f[2])
	case f[3] == 0 || f[3] > 1<<40:
		return bad("size %d", f[3])
	}
	h.seq, h.count, h.size = int(f[1]), int(f[2]), int(f[3])
	switch k := gossipKind(f[4]); k {
	case gossipHeartbeat, gossipTransferDelta, gossipTransferExtract:
		h.kind = k
	default:
		return bad("kind %d cannot be chunked", f[4])
	}
	if data, err = d.DecodeBytes(); err != nil || len(data) == 0 {
		return bad("data")
	}
	return h, data, nil
}

// assembly is a message being assembled from a sender's chunks.
type assembly struct {
	from replicaRef
	h    chunkHeader
	next int
	buf  []byte
	last time.Time // when its latest chunk arrived
}

// add appends a chunk; it returns the whole message once complete, or an error if the chunk does not
// continue the assembly (the assembly is then abandoned by the caller).
func (a *assembly) add(h chunkHeader, data []byte) ([]byte, error) {
	if h.id != a.h.id || h.count != a.h.count || h.size != a.h.size || h.kind != a.h.kind || h.seq != a.next {
		return nil, fmt.Errorf("%w: chunk %d of message %d, want chunk %d of message %d", errBadChunk, h.seq, h.id, a.next, a.h.id)
	}
	if len(a.buf)+len(data) > a.h.size {
		return nil, fmt.Errorf("%w: chunks longer than the declared %d bytes", errBadChunk, a.h.size)
	}
	a.buf = append(a.buf, data...)
	a.next++
	if a.next < a.h.count {
		return nil, nil
	}
	if len(a.buf) != a.h.size {
		return nil, fmt.Errorf("%w: %d bytes assembled, %d declared", errBadChunk, len(a.buf), a.h.size)
	}
	return a.buf, nil
}
