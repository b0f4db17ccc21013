package tracker

import (
	"bytes"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// Flow control of transfer streams (chunk.go). The receiver grants credit:
//
//	[1, 8, name, vsn, [], body]    body: msgpack bin of [id, granted]
//
// sent directly to the stream's sender: the sender may send the chunks of stream id numbered below
// granted. A stream starts with one chunk of credit (its first, which the receiver checks: a transfer it
// asked for); the receiver grants more as it merges what arrived, up to TransferWindow bytes in flight
// for the stream and ReceiveWindow bytes over every stream coming to its node, but always at least one
// chunk, so that no stream waits for another to end. What is in flight towards a node (in Redis's output
// buffer for its subscriber, on the wire, in its mailboxes) is thus bounded by what it granted, whatever
// the speed of the sender, of Redis, or of the receiver's merges: a stream runs as fast as the slowest of
// them and never fills Redis's pubsub output buffer (client-output-buffer-limit pubsub 32mb 8mb 60).
//
// The sender also caps what it sends at its own TransferWindow ahead of the last chunk the receiver
// acknowledged, so forged credit cannot make it flood. A sender that hears no credit for transferStall
// abandons the stream (Stats().SendErrors); a receiver that hears no chunk for transferStall abandons it
// too, and asks again.

// initialCredit is the credit a stream starts with: its first chunk.
const initialCredit = 1

// encodeCredit encodes a credit message from a receiver.
func encodeCredit(from replicaRef, id uint64, granted int) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	err := enc.EncodeArrayLen(2)
	if err == nil {
		err = enc.EncodeUint(id)
	}
	if err == nil {
		err = enc.EncodeUint(uint64(granted))
	}
	if err != nil {
		return nil, err
	}
	return encodeGossip(gossip{kind: gossipCredit, from: from, clocks: causalContext{}, body: buf.Bytes()})
}

// decodeCredit validates and decodes a credit message's body.
func decodeCredit(body []byte) (id uint64, granted int, err error) {
	if err := wire.CheckMsgpack(body, 2); err != nil {
		return 0, 0, fmt.Errorf("%w: credit: %v", errBadGossip, err)
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	if n, err := d.DecodeArrayLen(); err != nil || n != 2 {
		return 0, 0, fmt.Errorf("%w: credit: want a 2-element array", errBadGossip)
	}
	if id, err = d.DecodeUint64(); err != nil {
		return 0, 0, fmt.Errorf("%w: credit id", errBadGossip)
	}
	g, err := d.DecodeUint64()
	if err != nil || g > maxChunks {
		return 0, 0, fmt.Errorf("%w: credit %d", errBadGossip, g)
	}
	return id, int(g), nil
}

// transferStall is how long a stream may make no progress before its sender, or its receiver, abandons it:
// a healthy receiver grants credit within a message round trip and a merge of one part.
func (t *Tracker) transferStall() time.Duration {
	return max(2*time.Second, 4*t.cfg.BroadcastPeriod)
}

// windowChunks is how many chunks of a stream may be in flight: TransferWindow in chunks of MaxGossipSize.
func (t *Tracker) windowChunks() int {
	return max(1, t.cfg.TransferWindow/t.cfg.MaxGossipSize)
}

// receiveChunks is how many chunks may be in flight towards this node over every stream: ReceiveWindow in
// chunks of MaxGossipSize.
func (t *Tracker) receiveChunks() int64 {
	return int64(max(1, t.cfg.ReceiveWindow/t.cfg.MaxGossipSize))
}

// grant returns the new credit of an incoming stream that has received next chunks and granted granted,
// reserving what it adds in the tracker's receive budget, or granted itself when no grant is due: a stream
// is topped up to its window once half of it has arrived, within the budget, and always keeps one chunk
// of credit.
func (t *Tracker) grant(next, granted int) int {
	outstanding := granted - next
	w := t.windowChunks()
	if outstanding > w/2 {
		return granted
	}
	want := w - outstanding
	for {
		used := t.inflight.Load()
		add := int64(want)
		if room := t.receiveChunks() - used; add > room {
			add = max(room, 0)
		}
		if outstanding+int(add) < 1 {
			add = int64(1 - outstanding) // never none in flight: the stream must go on
		}
		if add <= 0 {
			return granted
		}
		if t.inflight.CompareAndSwap(used, used+add) {
			return granted + int(add)
		}
	}
}
