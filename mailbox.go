package pubsub

import (
	"fmt"
	"log/slog"
	"time"
)

// The mailbox of a Subscriber grows on demand, so that an idle subscriber costs a few hundred bytes
// whatever its bound:
//
//   - C is a channel of at most chanSize messages. A delivery goes straight into it while it has room
//     and nothing waits behind it: one non-blocking channel send, as before.
//   - What does not fit waits in a ring (ring.go) that grows by doubling up to the bound and is freed
//     once it has drained. While the ring holds messages a pump goroutine moves them into the channel
//     as the reader takes them, in order, and exits when the ring is empty. So a subscriber costs a
//     goroutine only while its reader is behind, never while it is idle.
//   - With a handler (WithHandler) there is no channel: every delivery goes to the ring, and a goroutine
//     started when the ring becomes non-empty calls the handler for each message, in order, and exits
//     when the ring is empty.
//
// The bound counts every message queued: in the channel, in the ring, and the one the pump holds while
// it waits for room in the channel. Overflow policies and drop counting work on that count, as they
// did on a channel of the bound's size. One imprecision remains, inherent in moving messages between
// a ring and a channel that a reader empties without telling anyone: see queued.

// chanSize is the capacity of a subscriber's channel (C) when its bound is larger. Every subscriber
// pays 32 bytes per slot up front: with 3 the channel is one 192-byte allocation (its 96-byte header
// and the slots), and an idle subscriber with one subscription costs about 414 B at 1 M subscribers;
// with 4 it cost 462 B, too close to the 512 B budget. A reader that falls further behind than this
// costs a pump goroutine until it catches up.
const chanSize = 3

// closeLinger is how long the pump of a closed subscriber waits for its reader to take the next message
// before it gives up, drops (and counts) the rest of the backlog and closes C: a reader that stopped
// reading when it closed its subscriber must not keep a goroutine and the backlog alive forever.
const closeLinger = 5 * time.Second

// enqueue is Deliver for the registry, which knows that s is open: a subscriber closes its mailbox only
// after removing its subscriptions, under their partitions' locks, which deliver holds. The common case
// (no backlog) is one non-blocking channel send, without s.mu.
func (s *Subscriber) enqueue(msg Message) bool {
	if !s.backlog.Load() && s.ch != nil {
		select {
		case s.ch <- msg:
			return true
		default:
		}
	}
	s.mu.Lock()
	ok := s.put(msg)
	s.mu.Unlock()
	return ok
}

// put queues msg, or applies the overflow policy when the mailbox holds its bound. s.mu is held and s
// is open.
//
// Order: a message goes into the channel directly only when no runner is running, that is when the ring
// is empty and the pump holds nothing; otherwise behind the ring. The lock-free path of enqueue reads
// backlog, which is true whenever a runner runs, so a broadcaster never overtakes its own earlier
// messages.
func (s *Subscriber) put(msg Message) bool {
	if !s.running && s.ch != nil {
		select {
		case s.ch <- msg:
			return true
		default:
		}
	}
	if s.queued() < int(s.bound) {
		s.push(msg)
		return true
	}
	return s.overflow(msg)
}

// queued returns how many messages the mailbox holds. s.mu is held.
//
// The message the pump holds counts until the pump has taken the lock again after handing it over. So
// the count is exact whenever the pump is not in the instant between its send and that lock: while it
// waits for room (the channel full), and while it is about to send (a reader, or DropOldest, made room
// meanwhile), the message counts once. In that instant it counts twice, and a delivery may be dropped
// one early. The bound is never exceeded, and without a reader (a mailbox that fills and overflows)
// the count is exact: DropOldest keeps exactly the newest bound messages.
func (s *Subscriber) queued() int {
	n := len(s.ch)
	if s.q != nil {
		n += s.q.n
		if s.q.inHand && !s.q.owed {
			n++
		}
	}
	return n
}

// push queues msg in the ring and starts the runner if none runs. s.mu is held.
func (s *Subscriber) push(msg Message) {
	if s.q == nil {
		s.q = &ring{}
	}
	s.q.push(msg)
	if !s.running {
		s.running = true
		s.backlog.Store(true)
		if s.ch == nil {
			go s.handle()
		} else {
			s.q.wake = make(chan struct{})
			go s.pump(s.q.wake)
		}
	}
}

// overflow applies the overflow policy to msg, which did not fit, and starts a slow-consumer episode.
// s.mu is held.
func (s *Subscriber) overflow(msg Message) bool {
	queued := false
	if OverflowPolicy(s.policy) == DropOldest && s.dropOldest() {
		s.dropped.Add(1)
		if !s.running && s.ch != nil {
			select {
			case s.ch <- msg:
				queued = true
			default:
			}
		}
		if !queued {
			s.push(msg)
			queued = true
		}
	}
	if !queued {
		s.dropped.Add(1)
	}
	if s.slow.CompareAndSwap(false, true) {
		s.ps.slow.report(s)
	}
	return queued
}

// dropOldest removes the oldest queued message: the channel's first, else the message the pump holds,
// else the ring's first. The message in the pump's hand is older than the ring's, and younger than the
// channel's; it cannot be taken from the pump, which sends it without the lock, so it is owed: the pump
// takes it back from the channel when it has the lock again (dropOwed). Dropping the ring's first
// instead kept an older message than the bound allows when the pump was descheduled while the channel
// drained (TestConformance…/Overflow/DropOldestKeepsNewest under load). s.mu is held.
func (s *Subscriber) dropOldest() bool {
	if s.ch != nil {
		select {
		case <-s.ch:
			return true
		default:
		}
	}
	if s.q != nil && s.q.inHand && !s.q.owed {
		s.q.owed = true
		return true
	}
	if s.q != nil && s.q.n > 0 {
		s.q.pop()
		return true
	}
	return false
}

// dropOwed drops the message DropOldest owed (dropOldest), which the pump has just sent: it is the
// channel's only message, since the channel was empty when it was owed and only the pump sends while it
// runs. A reader that took it first got it, and the oldest message still queued, the ring's first, goes
// instead; with none, nothing was dropped after all. s.mu is held.
func (s *Subscriber) dropOwed() {
	s.q.owed = false
	select {
	case <-s.ch:
	default:
		if s.q.n > 0 {
			s.q.pop()
		} else {
			s.dropped.Add(^uint64(0)) // -1: the count overflow made
		}
	}
}

// stopRunner ends the runner: the ring is empty (or dropped), and its memory is given back. A closed
// subscriber's channel is closed here when the pump outlived Close. s.mu is held.
func (s *Subscriber) stopRunner() {
	s.running = false
	s.backlog.Store(false)
	s.q = nil
	if s.closed && s.ch != nil {
		close(s.ch)
	}
}

// pump moves the ring into the channel as the reader makes room, in order, and exits once the ring is
// empty. After Close it goes on while the reader reads (what was queued stays readable), but gives up
// when the reader takes nothing for closeLinger, and at once when the PubSub closes (whose Close stops
// every goroutine it started); what it gives up is counted in Dropped.
func (s *Subscriber) pump(closed <-chan struct{}) {
	var linger *time.Timer
	var lingerC <-chan time.Time
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	psDone := s.ps.done
	s.mu.Lock()
	for {
		for s.q.n > 0 { // whatever fits, without waiting
			select {
			case s.ch <- s.q.front():
				s.q.pop()
				continue
			default:
			}
			break
		}
		if s.q.n == 0 {
			s.stopRunner()
			s.mu.Unlock()
			return
		}
		msg := s.q.pop()
		s.q.inHand = true
		s.mu.Unlock()
		sent, giveUp := false, false
		for !sent && !giveUp {
			select {
			case s.ch <- msg:
				sent = true
			case <-closed:
				closed = nil
				linger = time.NewTimer(closeLinger)
				lingerC = linger.C
			case <-lingerC:
				giveUp = true
			case <-psDone:
				giveUp = true
			}
		}
		s.mu.Lock()
		s.q.inHand = false
		if giveUp {
			n := uint64(s.q.n) + 1
			if s.q.owed { // counted already
				n--
			}
			s.q.owed = false
			s.dropped.Add(n)
			s.stopRunner()
			s.mu.Unlock()
			return
		}
		if s.q.owed {
			s.dropOwed()
		}
		if linger != nil {
			linger.Reset(closeLinger)
		}
	}
}

// handle calls the handler for each queued message, in order, one at a time, and exits once the ring
// is empty. After Close it calls the handler no more: what is still queued is dropped and counted.
func (s *Subscriber) handle() {
	s.mu.Lock()
	for {
		if s.closed || s.q.n == 0 {
			s.dropped.Add(uint64(s.q.n)) // after Close: not handled
			s.stopRunner()
			s.mu.Unlock()
			return
		}
		msg := s.q.pop()
		s.mu.Unlock()
		s.call(msg)
		s.mu.Lock()
	}
}

// call runs the handler on msg; a panic is logged (rate-limited) and the next message is handled.
func (s *Subscriber) call(msg Message) {
	defer func() {
		if v := recover(); v != nil {
			s.ps.rlog.LogAt(slog.LevelError, "handler_panic", "pubsub: a subscriber's handler panicked",
				slog.Uint64("subscriber", s.id), slog.String("topic", msg.Topic), slog.String("panic", fmt.Sprint(v)))
		}
	}()
	s.hooks.handler(msg)
}

// maxMailboxSize is the largest mailbox bound, far beyond what a mailbox should hold.
const maxMailboxSize = 1 << 30
