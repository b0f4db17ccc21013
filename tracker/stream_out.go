package tracker

import (
	"log/slog"
	"slices"
	"time"
)

// The sending side of transfer streams (chunk.go, credit.go): the outbox's bulk goroutine turns transfer
// answers into streams and sends their chunks, round robin over the streams that have credit.

// partsFrom is how many values a full state or delta needs before it is sent in parts rather than whole
// (a smaller one fits in one message, or in one stream message if its metas are large).
const partsFrom = 1024

// stream is a transfer answer being sent as a stream of chunks. next, pending and the encoding are the
// bulk goroutine's; granted, seq, progress and notBefore are guarded by the outbox's mu.
type stream struct {
	node    string
	id      uint64
	from    replicaRef
	piece   int                                       // data bytes per chunk
	next    func() (msg []byte, last bool, err error) // the stream's next message, encoded
	srcDone bool
	pending [][]byte // chunks of the current message not sent yet

	seq       int       // chunks sent
	granted   int       // chunks the receiver allowed
	credited  bool      // credit came: the receiver took the stream
	progress  time.Time // when the latest chunk went or credit came
	pace      *pace     // nil without TransferRate
	notBefore time.Time // the pace's next slot
}

func (st *stream) done() bool { return st.srcDone && len(st.pending) == 0 }

// startAnswer encodes a transfer answer: sent at once if it fits in one message, else queued as a stream.
func (ob *outbox) startAnswer(m outMsg) {
	t := ob.s.t
	piece, err := chunkPiece(m.g.from, t.cfg.MaxGossipSize)
	if err != nil {
		t.log.Error("tracker: cannot send a transfer", slog.Any("err", err))
		return
	}
	var parts *stateParts
	switch budget := piece - 64 - len(m.g.from.Name); {
	case m.x != nil && (m.x.list != nil || len(m.x.values) >= partsFrom):
		parts = newExtractParts(m.x, budget)
	case m.d != nil && len(m.d.values) >= partsFrom:
		parts = newDeltaParts(m.d, budget)
	}
	if parts != nil {
		from := m.g.from
		ob.addStream(m.node, from, piece, func() ([]byte, bool, error) {
			body, kind, last, err := parts.nextPayload()
			if err != nil {
				return nil, false, err
			}
			b, err := encodeGossip(gossip{kind: kind, from: from, clocks: causalContext{}, body: body})
			return b, last, err
		})
		return
	}
	switch {
	case m.d != nil:
		m.g.body, err = marshalDelta(m.d)
	case m.x != nil:
		m.g.body, err = marshalExtract(m.x)
	}
	var b []byte
	if err == nil {
		b, err = encodeGossip(m.g)
	}
	if err != nil {
		t.log.Error("tracker: cannot encode a transfer", slog.Any("err", err))
		return
	}
	if len(b) <= t.cfg.MaxGossipSize {
		ob.send(m.node, b)
		return
	}
	sent := false
	ob.addStream(m.node, m.g.from, piece, func() ([]byte, bool, error) {
		if sent {
			return nil, true, nil
		}
		sent = true
		return b, true, nil
	})
}

// addStream queues a stream to node, replacing one to the same node (its receiver asked again: it
// abandoned it).
func (ob *outbox) addStream(node string, from replicaRef, piece int, next func() ([]byte, bool, error)) {
	t := ob.s.t
	st := &stream{node: node, id: t.chunkID.Add(1), from: from, piece: piece, next: next, granted: initialCredit,
		progress: time.Now()}
	if t.cfg.TransferRate > 0 {
		st.pace = newPace(t.cfg.TransferRate, max(t.cfg.MaxGossipSize, t.cfg.TransferRate/8))
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.closed {
		return
	}
	ob.bulk = slices.DeleteFunc(ob.bulk, func(o *stream) bool { return o.node == node })
	if len(ob.bulk) >= maxBulk {
		t.stats.sendErrors.Add(1)
		t.stats.outboxDropped.Add(1)
		return
	}
	ob.bulk = append(ob.bulk, st)
	wake(ob.bwake)
}

// credit records credit from a stream's receiver: it may have chunks below granted, and never more than
// TransferWindow beyond what was sent. Credit for a stream that is over (late, or forged) is ignored.
func (ob *outbox) credit(node string, id uint64, granted int) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, st := range ob.bulk {
		if st.node == node && st.id == id {
			st.credited = true
			if g := min(granted, st.seq+ob.s.t.windowChunks()); g > st.granted {
				st.granted = g
				st.progress = time.Now()
				wake(ob.bwake)
			}
			return
		}
	}
}

// answering reports whether an answer to node is being encoded, queued, or streaming. A stream its
// receiver took (credit came) is dropped instead, so that the caller answers anew: a receiver asks only
// when it has no stream from us, so it abandoned that one (a lost chunk, a gap). Its request cannot be
// one sent before it took the stream: it would have arrived before the credit, on the same topic.
func (ob *outbox) answering(node string) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if node == ob.encoding {
		return true
	}
	for _, m := range ob.answers {
		if m.node == node {
			return true
		}
	}
	for i, st := range ob.bulk {
		if st.node == node {
			if !st.credited {
				return true // its first chunk is on its way (or lost: the stream stalls, and ends)
			}
			ob.bulk = slices.Delete(ob.bulk, i, i+1)
			return false
		}
	}
	return false
}

// nextStream returns a stream that may send a chunk now, round robin, or how long to wait for one. It
// abandons the streams whose receiver granted nothing for transferStall. mu held.
func (ob *outbox) nextStream(now time.Time) (*stream, time.Duration) {
	t := ob.s.t
	wait := time.Hour
	stall := t.transferStall()
	ob.bulk = slices.DeleteFunc(ob.bulk, func(st *stream) bool {
		if st.seq >= st.granted && now.Sub(st.progress) > stall {
			t.stats.sendErrors.Add(1)
			t.stats.transfersStalled.Add(1)
			t.sendLog.LogAt(slog.LevelWarn, "stall", "tracker: a transfer's receiver granted no credit; abandoned",
				slog.String("topic", ob.s.topic), slog.String("node", st.node), slog.Duration("after", stall))
			return true
		}
		return false
	})
	for k := range ob.bulk {
		i := (ob.rr + k) % len(ob.bulk)
		st := ob.bulk[i]
		switch {
		case st.seq >= st.granted:
			wait = min(wait, st.progress.Add(stall).Sub(now)+time.Millisecond)
		case now.Before(st.notBefore):
			wait = min(wait, st.notBefore.Sub(now))
		default:
			ob.rr = i + 1
			return st, 0
		}
	}
	return nil, wait
}

// sendChunk sends a stream's next chunk, encoding its next message first if need be.
func (ob *outbox) sendChunk(st *stream) {
	t := ob.s.t
	if len(st.pending) == 0 {
		msg, last, err := st.next()
		if err == nil && msg != nil {
			st.pending, err = cutMessage(st.from, st.id, st.seq, msg, st.piece, last)
		}
		if err != nil {
			t.log.Error("tracker: cannot encode a transfer", slog.Any("err", err))
			ob.endStream(st)
			t.stats.sendErrors.Add(1)
			return
		}
		st.srcDone = last
		if len(st.pending) == 0 {
			ob.endStream(st)
			return
		}
	}
	chunk := st.pending[0]
	st.pending[0] = nil
	st.pending = st.pending[1:]
	// One chunk of the tracker in the publisher at a time: a heartbeat of any shard waits behind one chunk
	// at most, not behind one per shard (the adapter sends a node's frames through one pipeline). A chunk
	// may wait for it longer than a heartbeat should: its stream is under credit anyway, and a chunk given
	// up on is a hole that restarts the whole stream.
	select {
	case t.chunkSlot <- struct{}{}:
	case <-ob.ctx.Done():
		return
	}
	ob.sendWithin(st.node, chunk, t.transferStall())
	<-t.chunkSlot
	now := time.Now()
	ob.mu.Lock()
	st.seq++
	st.progress = now
	if st.pace != nil {
		st.notBefore = now.Add(st.pace.reserve(len(chunk)))
	}
	ob.mu.Unlock()
	if st.done() {
		ob.endStream(st)
	}
}

// endStream removes a stream from the bulk lane (if still there: stop, or a newer answer, may have
// removed it).
func (ob *outbox) endStream(st *stream) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	ob.bulk = slices.DeleteFunc(ob.bulk, func(o *stream) bool { return o == st })
}

// runBulk is the bulk goroutine: it encodes transfer answers (sending the small ones at once) and sends
// the chunks of streams as their receivers grant credit.
func (ob *outbox) runBulk() {
	defer close(ob.bdone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if ob.ctx.Err() != nil {
			return
		}
		ob.mu.Lock()
		var answer outMsg
		if len(ob.answers) > 0 {
			answer = ob.answers[0]
			ob.answers[0] = outMsg{}
			ob.answers = ob.answers[1:]
			ob.encoding = answer.node
		}
		ob.mu.Unlock()
		if answer.node != "" {
			ob.startAnswer(answer)
			ob.mu.Lock()
			ob.encoding = ""
			ob.mu.Unlock()
			continue
		}
		ob.mu.Lock()
		st, wait := ob.nextStream(time.Now())
		ob.mu.Unlock()
		if st != nil {
			ob.sendChunk(st)
			continue
		}
		timer.Reset(wait)
		select {
		case <-ob.ctx.Done():
			return
		case <-ob.bwake:
		case <-timer.C:
		}
		timer.Stop()
	}
}
