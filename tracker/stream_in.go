package tracker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// The receiving side of transfer streams (chunk.go, credit.go): a shard appends the chunks of a sender's
// stream in order, handles each message as it completes (a part of a full state is merged at once, under
// the shard's lock for that part only), and grants credit as it goes. Streams are the shard goroutine's
// alone; a sender has at most one at a time.

// inStream is a transfer stream being received.
type inStream struct {
	from     replicaRef
	id       uint64
	next     int       // chunks received
	granted  int       // chunks allowed
	reserved int       // chunks granted beyond initialCredit and not arrived: held in Tracker.inflight
	buf      []byte    // the message being assembled
	bytes    int       // bytes received over the stream
	last     time.Time // when its latest chunk came
	// parts says that parts of a full state were merged; got holds their tags (the final extract must not
	// take them for removed) and unknown the replicas whose values were ignored.
	parts   bool
	got     *tagSet
	unknown map[replicaRef]struct{}
}

// receiveChunk handles one chunk of a stream. A stream is accepted, at its first chunk, only from a
// replica we asked for a transfer; at most MaxTransferSize bytes in all are assembled at a time over every
// sender, and one stream carries at most MaxTransferSize bytes.
func (s *shard) receiveChunk(g gossip, now time.Time) {
	h, data, err := decodeChunkBody(g.body)
	if err != nil {
		s.t.drop(dropBadChunk, err)
		return
	}
	name := g.from.Name
	st := s.streams[name]
	switch {
	case h.seq == 0:
		s.endStream(name) // a new stream from this sender: the one before is over
		if reason, ok := s.acceptsStream(g.from, now); !ok {
			s.t.drop(reason, nil)
			return
		}
		st = &inStream{from: g.from, id: h.id, granted: initialCredit}
		s.streams[name] = st
	case st == nil || st.from != g.from || st.id != h.id:
		s.t.drop(dropOrphanChunk, errors.New("tracker: a chunk of a stream not being received"))
		return
	case h.seq != st.next || h.seq >= st.granted:
		s.endStream(name)
		s.t.drop(dropBadChunk, fmt.Errorf("%w: chunk %d of stream %d, want chunk %d (granted %d)", errBadChunk, h.seq, h.id, st.next, st.granted))
		return
	}
	if h.seq >= initialCredit {
		st.reserved--
		s.t.inflight.Add(-1)
	}
	st.next++
	st.last = now
	s.heard(g.from, now)
	if st.bytes+len(data) > s.t.cfg.MaxTransferSize || s.assembling()+len(data) > s.t.cfg.MaxTransferSize {
		s.endStream(name)
		s.t.drop(dropTooLarge, nil)
		return
	}
	st.buf = append(st.buf, data...)
	st.bytes += len(data)
	if h.flags&chunkEndsMessage != 0 {
		msg := st.buf
		st.buf = nil
		if !s.streamMessage(st, msg) {
			s.endStream(name)
			return
		}
	}
	if h.flags&chunkEndsStream != 0 {
		s.endStream(name)
		s.mu.Lock()
		if p := s.peers[name]; p != nil && p.ref == g.from && !s.closed {
			s.askAgainIfBehind(p, now)
		}
		s.mu.Unlock()
		return
	}
	if granted := s.t.grant(st.next, st.granted); granted > st.granted {
		st.reserved += granted - st.granted
		st.granted = granted
		b, err := encodeCredit(s.ref(), st.id, granted)
		if err != nil {
			s.t.log.Error("tracker: cannot encode credit", slog.Any("err", err))
			return
		}
		s.push(outMsg{node: name, raw: b})
	}
}

// heard notes that a chunk of its stream came from a replica that is up: it is alive as surely as by a
// heartbeat. Its heartbeats can queue behind the chunks (in its outbox, in our mailbox) while a large
// state streams in, CPU-bound; without this, a slow merge would take the sender for down (hiding what it
// already sent, rendering those leaves) and then up again.
func (s *shard) heard(from replicaRef, now time.Time) {
	s.mu.Lock()
	if p := s.peers[from.Name]; p != nil && p.ref == from && p.up && now.After(p.last) {
		p.last = now
	}
	s.mu.Unlock()
}

// assembling returns the bytes of the messages being assembled, over every stream.
func (s *shard) assembling() int {
	n := 0
	for _, st := range s.streams {
		n += len(st.buf)
	}
	return n
}

// endStream forgets the stream from name, if any, and gives back the credit it still held.
func (s *shard) endStream(name string) {
	if st := s.streams[name]; st != nil {
		s.t.inflight.Add(-int64(st.reserved))
		delete(s.streams, name)
	}
}

// endStreams forgets every stream (a gap: any of them may have lost a chunk).
func (s *shard) endStreams() {
	for name := range s.streams {
		s.endStream(name)
	}
}

// expireStreams abandons the streams that stopped arriving (a lost chunk, a sender gone).
func (s *shard) expireStreams(now time.Time) {
	for name, st := range s.streams {
		if now.Sub(st.last) > s.t.transferStall() {
			s.t.stats.transfersStalled.Add(1)
			s.endStream(name)
		}
	}
}

// acceptsStream reports whether a stream may be received from a replica, and if not, why: a known one,
// which we asked for a transfer (the stream answers it).
func (s *shard) acceptsStream(from replicaRef, now time.Time) (dropReason, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from.Name == s.state.ref().Name {
		return dropOwnName, false
	}
	if p := s.peers[from.Name]; p == nil || p.ref != from {
		if s.state.isPermdowned(from) {
			return dropPermdowned, false
		}
		return dropUnasked, false
	}
	return s.acceptsTransfer(from, now)
}

// streamMessage handles a whole message of a stream: a part of a full state (merged at once), the final
// extract of one sent in parts, or a transfer answer sent whole. It reports whether the stream goes on.
func (s *shard) streamMessage(st *inStream, msg []byte) bool {
	inner, err := decodeGossip(msg)
	switch {
	case err != nil:
		s.t.drop(dropMalformed, fmt.Errorf("tracker: a stream's message: %w", err))
		return false
	case inner.from != st.from:
		s.t.drop(dropMalformed, fmt.Errorf("tracker: a stream's message from %v in a stream of %v", inner.from, st.from))
		return false
	}
	switch inner.kind {
	case gossipTransferPart:
		values, err := unmarshalPart(inner.body)
		if err != nil {
			s.t.drop(dropMalformed, err)
			return false
		}
		return s.mergePart(st, values)
	case gossipTransferExtract:
		if !st.parts {
			s.handle(inner, true)
			return true
		}
		x, err := unmarshalExtract(inner.body)
		if err != nil {
			s.t.drop(dropMalformed, err)
			return false
		}
		s.mergeFinal(st, x, nil)
		return true
	case gossipTransferDelta:
		if !st.parts {
			s.handle(inner, true)
			return true
		}
		d, err := unmarshalDelta(inner.body)
		if err != nil {
			s.t.drop(dropMalformed, err)
			return false
		}
		s.mergeFinal(st, nil, d)
		return true
	}
	s.t.drop(dropMalformed, fmt.Errorf("tracker: a message of kind %d in a stream", inner.kind))
	return false
}

// mergePart merges a part of a state. The first part resets the delta generations, as the merge of a full
// state does: values that arrive in parts are in no generation (a delta sent in parts is not pushed).
func (s *shard) mergePart(st *inStream, values []*value) bool {
	if st.got == nil {
		st.got = newTagSet()
		st.unknown = make(map[replicaRef]struct{})
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	p := s.peers[st.from.Name]
	if p == nil || p.ref != st.from {
		s.mu.Unlock()
		s.t.drop(dropUnasked, nil) // permdowned while its stream came
		return false
	}
	if !st.parts {
		st.parts = true
		s.gens.reset()
		s.state.expectValues(st.from, p.ahead)
	}
	diff := s.newDiff()
	s.record(st.got.merged(s.state, values, st.unknown), nil, diff)
	s.report(diff)
	s.mu.Unlock()
	return true
}

// mergeFinal merges the extract, or the delta, that ends a state sent in parts: its removes, and its
// context or clouds.
func (s *shard) mergeFinal(st *inStream, x *extract, d *delta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if p := s.peers[st.from.Name]; p == nil || p.ref != st.from {
		s.t.drop(dropUnasked, nil)
		return
	}
	diff := s.newDiff()
	var joins, leaves []*value
	if x != nil {
		joins, leaves = s.state.mergeExtractParts(x, st.got, st.unknown)
	} else {
		joins, leaves = s.state.mergeDeltaParts(d, st.got, st.unknown)
	}
	s.record(joins, leaves, diff)
	s.gens.reset()
	s.report(diff)
}
