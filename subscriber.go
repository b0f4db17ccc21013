package pubsub

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Subscriber is a mailbox that receives the messages of the topics it subscribes to: the Go stand-in
// for the Elixir process that calls Phoenix.PubSub.subscribe. Make one with PubSub.NewSubscriber.
//
// The mailbox is bounded. A delivery to a full mailbox never waits: the overflow policy drops a message,
// Dropped counts it, and the PubSub reports a slow consumer once per episode. The mailbox grows on
// demand up to its bound and shrinks back once drained (mailbox.go), so an idle subscriber costs a few
// hundred bytes whatever its bound. Receive on C (or with Receive) from one goroutine or many, or have a
// handler called for each message (WithHandler); every method is safe for concurrent use.
//
// Closing a subscriber removes all its subscriptions, like a process exit, and closes C.
type Subscriber struct {
	ps *PubSub
	id uint64

	// The mailbox (mailbox.go). mu guards q, running and closed, and ch against close.
	mu      sync.Mutex
	ch      chan Message // C: holds at most chanSize messages; nil with a handler
	q       *ring        // the backlog behind ch (with a handler: everything queued); nil when empty
	bound   int32        // the mailbox size
	policy  uint8        // an OverflowPolicy
	running bool         // a runner (pump or handler goroutine) is running: the ring is or was just non-empty
	closed  bool         // ch is closed, or will be by the runner when it ends
	reason  closeReason  // why the subscriber is closed, set when closing begins, and its close watchers; guarded by subsMu
	backlog atomic.Bool  // running, readable without mu: enqueue's fast path checks it
	slow    atomic.Bool  // inside a slow-consumer episode (see slowReporter)
	dropped atomic.Uint64

	// subsMu guards topic, reason and hooks, which hold the topics this subscriber holds subscriptions to.
	subsMu sync.Mutex
	topic  string // the first topic (see topicset.go), or ""
	hooks  *hooks // made by Done, AfterClose or a second topic on first use, or with a handler by NewSubscriber
}

// hooks are what a subscriber keeps only when it needs them: Done's channel, AfterClose's functions, the
// topics beyond its first, its handler.
type hooks struct {
	done       chan struct{}       // closed by close
	afterClose []*func()           // registered by AfterClose (usually one or two), run by close
	few        [fewTopics]string   // the subscriber's topics after the first ("" for none; see topicset.go)
	topics     map[string]struct{} // and after those; nil when none
	handler    func(Message)       // WithHandler's: set by NewSubscriber, never changed (the runner reads it without subsMu)
}

// MailboxOption configures the mailbox of a new Subscriber (see PubSub.NewSubscriber). Options are
// values, like SubscribeOption; NewSubscriber reports an invalid one.
type MailboxOption struct {
	size        int
	prealloc    int
	policy      OverflowPolicy
	handler     func(Message)
	hasSize     bool
	hasPrealloc bool
	hasPolicy   bool
	hasHandler  bool
}

// WithMailboxSize bounds the subscriber's mailbox to n messages, n ≥ 1. The bound is a limit, not a
// preallocation: the mailbox takes memory for the messages it holds, and gives it back once drained.
func WithMailboxSize(n int) MailboxOption { return MailboxOption{size: n, hasSize: true} }

// WithPrealloc makes C hold n messages (at most the mailbox bound) instead of the first 3, allocated
// with the subscriber at 32 B each: the mailbox as it was before it grew on demand. For a busy
// subscriber read by one goroutine that sometimes falls behind (a tracker shard, a log tail, a fan-in):
// behind a small channel, a backlog is moved into it a few messages at a time by a pump goroutine, which
// costs a goroutine switch per few messages; a preallocated channel holds the backlog itself. Idle
// subscribers (one per connection) should not use it. n ≥ 1; it cannot be combined with WithHandler.
func WithPrealloc(n int) MailboxOption { return MailboxOption{prealloc: n, hasPrealloc: true} }

// WithOverflow sets what the subscriber's full mailbox does: drop the newest (DropNewest), drop the
// oldest (DropOldest), or close the subscriber (CloseOnOverflow).
func WithOverflow(p OverflowPolicy) MailboxOption { return MailboxOption{policy: p, hasPolicy: true} }

// WithHandler has h called with each message instead of queueing it for C: nats.go's
// Subscribe(subject, handler), for code that would otherwise write a goroutine that reads C and calls a
// function. The guarantees are the mailbox's: h is called for one message at a time, in the order the
// mailbox received them (so in each broadcaster's order); a broadcaster never waits for h; messages
// that arrive while h runs are queued up to the mailbox bound, beyond which the overflow policy applies
// and Dropped counts. A subscriber with a handler holds no goroutine while its mailbox is empty: one is
// started when a message arrives and ends once the mailbox has drained.
//
// h runs on that goroutine, never on a broadcaster's. A panic in h is recovered, logged (rate-limited)
// on Config.Logger, and the next message handled. After Close, h is not called again (a call under way
// finishes): what is still queued is dropped and counted. C returns nil and Receive only waits for the
// subscriber's end. A nil h is an invalid option.
func WithHandler(h func(Message)) MailboxOption {
	return MailboxOption{handler: h, hasHandler: true}
}

// SubscribeOption configures one subscription (see Subscriber.Subscribe). The zero value changes
// nothing. (Options are values, not functions, so that passing one costs no allocation.)
type SubscribeOption struct {
	metadata    any
	hasMetadata bool
}

// WithMetadata attaches m to the subscription. Dispatchers see it in Entry.Metadata; the default
// dispatcher ignores it. Without it the metadata is nil.
func WithMetadata(m any) SubscribeOption {
	return SubscribeOption{metadata: m, hasMetadata: true}
}

// ID returns the subscriber's id, unique within its PubSub for the life of the process.
func (s *Subscriber) ID() uint64 { return s.id }

// C returns the mailbox's channel, from which messages are received in order. It is closed by Close,
// after which it yields what was queued, then nothing. It holds only the first few queued messages
// (the rest wait behind it and move in as it is read), so len(C()) and cap(C()) do not measure the
// mailbox: use Len and Cap. With a handler (WithHandler), C returns nil.
func (s *Subscriber) C() <-chan Message { return s.ch }

// Len returns how many messages the mailbox holds: received, not yet read (or, with a handler, not yet
// handed to it). It is the count the bound applies to: Len() == Cap() means the next delivery
// overflows. While a reader drains a backlog it may read one high for an instant (the message just
// handed over into C, see mailbox.go), also right after the last message was read, so do not drain with
// `for s.Len() > 0 { <-s.C() }`: use TryReceive.
func (s *Subscriber) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return min(s.queued(), int(s.bound))
}

// TryReceive returns the next message without waiting for one to arrive, and false when the mailbox is
// empty (or closed and drained). Prefer it to a select on C with a default case, which may find C
// empty while messages wait behind it to move in. It returns false at once with a handler.
func (s *Subscriber) TryReceive() (Message, bool) {
	if s.ch == nil {
		return Message{}, false
	}
	for {
		select {
		case msg, ok := <-s.ch:
			return msg, ok
		default:
		}
		s.mu.Lock()
		pumping := s.running
		s.mu.Unlock()
		if !pumping { // the pump may have moved its last messages in since the first look
			select {
			case msg, ok := <-s.ch:
				return msg, ok
			default:
				return Message{}, false
			}
		}
		runtime.Gosched() // the pump is about to move the next message in, or to end
	}
}

// Cap returns the mailbox's bound: how many messages it holds before its overflow policy applies.
func (s *Subscriber) Cap() int { return int(s.bound) }

// Dropped returns how many messages the mailbox has dropped because it was full (or, after Close,
// because nobody read them; see Close).
func (s *Subscriber) Dropped() uint64 { return s.dropped.Load() }

// Subscribe subscribes to topic. Subscribing twice to one topic delivers every message twice, as in
// Phoenix. It returns ErrEmptyTopic, ErrNilSubscriber, ErrSubscriberClosed after Close, or ErrClosed
// after the PubSub's Close. It waits only for the topic's partition lock, never on a subscriber.
//
// With an adapter that routes by topic (TopicRouter: redisadapter with RouteByTopic), broadcasts made on
// other nodes reach the subscriber only once the transport has confirmed the topic's route, a round
// trip after Subscribe returns when this node did not receive the route already: broadcasts made in
// between may be missed, and no Gap reports them. SubscribeContext waits for that confirmation.
func (s *Subscriber) Subscribe(topic string, opts ...SubscribeOption) error {
	if s == nil {
		return ErrNilSubscriber
	}
	if topic == "" {
		return ErrEmptyTopic
	}
	var metadata any
	for _, opt := range opts {
		if opt.hasMetadata {
			metadata = opt.metadata
		}
	}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if err := s.reason.err(); err != nil {
		return err
	}
	s.ps.registry.add(topic, s, metadata)
	s.addTopic(topic)
	return nil
}

// Unsubscribe removes every subscription the subscriber holds to topic, duplicates included. A topic it
// does not hold is not an error (Phoenix semantics). The cost does not depend on how many other topics
// the subscriber holds. It returns ErrEmptyTopic, ErrNilSubscriber, ErrSubscriberClosed or ErrClosed.
func (s *Subscriber) Unsubscribe(topic string) error {
	if s == nil {
		return ErrNilSubscriber
	}
	if topic == "" {
		return ErrEmptyTopic
	}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if err := s.reason.err(); err != nil {
		return err
	}
	if s.removeTopic(topic) {
		s.ps.registry.remove(topic, s)
	}
	return nil
}

// Receive waits for the next message. It returns ctx's error when ctx ends first, and, once the
// subscriber is closed and its mailbox is empty, why it closed: ErrSubscriberClosed (its Close),
// ErrSlowConsumer (the CloseOnOverflow policy) or ErrClosed (the PubSub's Close). With a handler it
// receives nothing: it waits for ctx or the subscriber's end.
func (s *Subscriber) Receive(ctx context.Context) (Message, error) {
	if s.ch == nil {
		select {
		case <-s.Done():
			return Message{}, s.err()
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
	select {
	case msg, ok := <-s.ch:
		if !ok {
			return Message{}, s.err()
		}
		return msg, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Deliver puts msg in the mailbox without waiting and reports whether it was queued. A full mailbox
// applies the overflow policy: DropNewest drops msg (false); DropOldest drops the oldest queued
// message and queues msg (true); CloseOnOverflow drops msg (false) and has the subscriber closed.
// Every drop counts in Dropped. A closed subscriber returns false and
// counts nothing. Dispatchers call Deliver; so may anyone.
func (s *Subscriber) Deliver(msg Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	return s.put(msg)
}

// Close removes every subscription of the subscriber and closes its mailbox, like a process exit.
// Messages already queued stay readable from C, then C closes. (A reader that takes none of a backlog
// for 5 seconds after Close is taken to have gone: the rest is dropped, counted in Dropped, and C
// closes; see closeLinger.) Close is idempotent and always returns nil.
func (s *Subscriber) Close() error {
	if s == nil {
		return nil
	}
	s.close(ErrSubscriberClosed)
	return nil
}

// close removes the subscriptions first, each under its partition's write lock, so that no broadcast
// still holds the subscriber when its mailbox closes.
func (s *Subscriber) close(reason error) {
	s.subsMu.Lock()
	if !s.reason.isOpen() {
		s.subsMu.Unlock()
		return
	}
	watchers := s.reason.watchers()
	s.reason = reasonOf(reason) // and no watchers: each is told once, below
	topics := s.takeTopics()
	var after []*func()
	if h := s.hooks; h != nil {
		if h.done != nil {
			close(h.done)
		}
		after = h.afterClose
		h.afterClose = nil
	}
	s.subsMu.Unlock()
	for _, f := range after {
		go (*f)()
	}

	for _, topic := range topics {
		s.ps.registry.remove(topic, s)
	}
	s.mu.Lock()
	s.closed = true
	switch {
	case s.running && s.q.wake != nil: // the pump closes ch when it ends; it may be waiting for the reader
		close(s.q.wake)
	case !s.running && s.ch != nil:
		close(s.ch)
	}
	s.mu.Unlock()
	s.ps.forget(s)
	if watchers != 0 {
		notifyCloseWatchers(s, watchers)
	}
}

func (s *Subscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Done returns a channel that is closed when the subscriber is closed (by Close, or by its PubSub's
// Close). With C and a context it lets a goroutine select on the subscriber's end, and it makes a
// Subscriber a tracker owner: its presences end when it closes.
func (s *Subscriber) Done() <-chan struct{} {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	h := s.hooksLocked()
	if h.done == nil {
		h.done = make(chan struct{})
		if !s.reason.isOpen() {
			close(h.done)
		}
	}
	return h.done
}

// AfterClose arranges for f to run in its own goroutine once the subscriber is closed, like
// context.AfterFunc: at once if it already is. stop unregisters f and reports whether it did so before f
// was started. It costs no goroutine while the subscriber is open, but a few closures and the
// subscriber's hooks (about 150 bytes): to watch very many subscribers, a CloseWatcher costs nothing per
// subscriber.
func (s *Subscriber) AfterClose(f func()) (stop func() bool) {
	key := &f
	s.subsMu.Lock()
	if !s.reason.isOpen() {
		s.subsMu.Unlock()
		go f()
		return func() bool { return false }
	}
	h := s.hooksLocked()
	h.afterClose = append(h.afterClose, key)
	s.subsMu.Unlock()
	return func() bool {
		s.subsMu.Lock()
		defer s.subsMu.Unlock()
		if s.hooks == nil {
			return false
		}
		for i, k := range s.hooks.afterClose {
			if k == key {
				s.hooks.afterClose = slices.Delete(s.hooks.afterClose, i, i+1)
				return true
			}
		}
		return false
	}
}

// Err returns why the subscriber is closed (see Receive), or nil while it is open.
func (s *Subscriber) Err() error { return s.err() }

// err returns why the subscriber is closed, or nil.
func (s *Subscriber) err() error {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	return s.reason.err()
}

// closeReason is why a subscriber is closed, one of three errors, in its low two bits; its high six bits
// are the close watchers watching the subscriber (closewatch.go), one bit a watcher slot, so that a watch
// costs a subscriber no memory at all.
type closeReason uint8

const (
	open closeReason = iota
	closedBySubscriber
	closedSlow
	closedByPubSub

	reasonBits closeReason = 3 // the reason's bits; the others are watchers
	watchShift             = 2 // the first watcher's bit
)

// isOpen reports whether the subscriber is open.
func (r closeReason) isOpen() bool { return r&reasonBits == open }

// watchers returns the watcher bits (slot i is bit i).
func (r closeReason) watchers() uint8 { return uint8(r >> watchShift) }

func reasonOf(err error) closeReason {
	switch err {
	case ErrSubscriberClosed:
		return closedBySubscriber
	case ErrSlowConsumer:
		return closedSlow
	case ErrClosed:
		return closedByPubSub
	}
	panic(fmt.Sprintf("pubsub: unknown close reason %v", err))
}

func (r closeReason) err() error {
	switch r & reasonBits {
	case closedBySubscriber:
		return ErrSubscriberClosed
	case closedSlow:
		return ErrSlowConsumer
	case closedByPubSub:
		return ErrClosed
	}
	return nil
}

// check validates s as the sender of a …From broadcast on ps.
func (s *Subscriber) check(ps *PubSub) error {
	if s == nil {
		return ErrNilSubscriber
	}
	if s.ps != ps {
		return ErrForeignSubscriber
	}
	return s.err()
}

// String returns a short description for logs.
func (s *Subscriber) String() string {
	return fmt.Sprintf("subscriber %d of %s", s.id, s.ps.name)
}
