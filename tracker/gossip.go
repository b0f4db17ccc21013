package tracker

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
)

// Gossip messages travel on a shard's gossip topic as []byte payloads:
//
//	[1, kind, name, vsn, clocks, body]
//
// kind is one of the gossip kinds below; name and vsn are the sender's replica ref; clocks is the
// sender's clocks, flat: [name, vsn, clock, name, vsn, clock, ...]; body is nil or a msgpack bin holding
// a delta or an extract (codec_state.go). Everything is validated before use: structure and lengths by
// wire.CheckMsgpack, then every field by hand, with no reflection-driven allocation.
const gossipVersion = 1

type gossipKind uint8

const (
	gossipHeartbeat       gossipKind = 1 // body: delta or nil (empty heartbeat)
	gossipTransferReq     gossipKind = 2 // body: nil; clocks: the requester's context
	gossipTransferDelta   gossipKind = 3 // body: delta
	gossipTransferExtract gossipKind = 4 // body: extract
	gossipPermdown        gossipKind = 5 // graceful permdown; body nil
	gossipChunk           gossipKind = 6 // body: a chunk of a transfer stream (chunk.go)
	gossipTransferPart    gossipKind = 7 // body: part of a full state (values only); only inside a stream
	gossipCredit          gossipKind = 8 // body: credit for a transfer stream (credit.go)
)

// maxGossipDepth bounds the nesting of a gossip message (the meta in its body included).
const maxGossipDepth = maxMetaDepth + 8

var errBadGossip = errors.New("tracker: bad gossip message")

type gossip struct {
	kind   gossipKind
	from   replicaRef
	clocks causalContext
	body   []byte
}

func encodeGossip(g gossip) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(32 + len(g.from.Name) + len(g.body) + 32*len(g.clocks)) // clocks' names may grow it
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	var err error
	check := func(e error) {
		if err == nil {
			err = e
		}
	}
	check(enc.EncodeArrayLen(6))
	check(enc.EncodeUint(gossipVersion))
	check(enc.EncodeUint(uint64(g.kind)))
	check(enc.EncodeString(g.from.Name))
	check(enc.EncodeUint(g.from.Vsn))
	check(enc.EncodeArrayLen(3 * len(g.clocks)))
	for ref, c := range g.clocks {
		check(enc.EncodeString(ref.Name))
		check(enc.EncodeUint(ref.Vsn))
		check(enc.EncodeUint(c))
	}
	if g.body == nil {
		check(enc.EncodeNil())
	} else {
		check(enc.EncodeBytes(g.body))
	}
	return buf.Bytes(), err
}

// decodeGossip validates and decodes a gossip message from the network.
func decodeGossip(b []byte) (gossip, error) {
	bad := func(format string, args ...any) (gossip, error) {
		return gossip{}, fmt.Errorf("%w: "+format, append([]any{errBadGossip}, args...)...)
	}
	if err := wire.CheckMsgpack(b, maxGossipDepth); err != nil {
		return bad("%v", err)
	}
	d := msgpack.NewDecoder(bytes.NewReader(b))
	n, err := d.DecodeArrayLen()
	if err != nil || n != 6 {
		return bad("want a 6-element array")
	}
	var g gossip
	version, err := d.DecodeUint64()
	if err != nil || version != gossipVersion {
		return bad("version %d", version)
	}
	kind, err := d.DecodeUint64()
	if err != nil || kind < uint64(gossipHeartbeat) || kind > uint64(gossipCredit) {
		return bad("kind %d", kind)
	}
	g.kind = gossipKind(kind)
	if g.from, err = decodeRef(d); err != nil {
		return bad("sender: %v", err)
	}
	m, err := d.DecodeArrayLen()
	if err != nil || m < 0 || m%3 != 0 {
		return bad("clocks")
	}
	g.clocks = make(causalContext, m/3) // m ≤ len(b): CheckMsgpack bounded it
	for range m / 3 {
		ref, err := decodeRef(d)
		if err != nil {
			return bad("clock: %v", err)
		}
		c, err := d.DecodeUint64()
		if err != nil {
			return bad("clock value")
		}
		if _, dup := g.clocks[ref]; dup {
			return bad("clock for %v twice", ref)
		}
		g.clocks[ref] = c
	}
	if g.body, err = d.DecodeBytes(); err != nil {
		return bad("body")
	}
	switch {
	case g.kind == gossipHeartbeat, g.kind == gossipTransferDelta, g.kind == gossipTransferExtract, g.kind == gossipChunk,
		g.kind == gossipTransferPart, g.kind == gossipCredit:
		if g.kind != gossipHeartbeat && g.body == nil {
			return bad("%d without a body", g.kind)
		}
	case g.body != nil:
		return bad("%d with a body", g.kind)
	}
	return g, nil
}

func decodeRef(d *msgpack.Decoder) (replicaRef, error) {
	name, err := d.DecodeString()
	if err != nil || name == "" || len(name) > wire.MaxNameLen {
		return replicaRef{}, errors.New("bad replica name")
	}
	vsn, err := d.DecodeUint64()
	if err != nil || vsn == 0 {
		return replicaRef{}, errors.New("bad replica vsn")
	}
	return replicaRef{Name: name, Vsn: vsn}, nil
}
