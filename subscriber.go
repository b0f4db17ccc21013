package pubsub

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Subscriber is a mailbox that receives the messages of the topics it subscribes to: the Go stand-in
// for the Elixir process that calls Phoenix.PubSub.subscribe. Make one with PubSub.NewSubscriber.
//
// The mailbox is bounded. A delivery to a full mailbox never waits: the overflow policy drops a message,
// Dropped counts it, and the PubSub reports a slow consumer once per episode. Receive on C (or with
// Receive) from one goroutine or many; every method is safe for concurrent use.
//
// Closing a subscriber removes all its subscriptions, like a process exit, and closes C.
type Subscriber struct {
	ps     *PubSub
	id     uint64
	policy OverflowPolicy

	// mu guards ch against close for Deliver: Deliver holds it for reading, close for writing.
	mu     sync.RWMutex
	ch     chan Message
	closed bool

	// subsMu guards topics and closeErr: the subscriptions this subscriber holds, by topic.
	subsMu     sync.Mutex
	topics     map[string]*slot
	closeErr   error         // non-nil once closing has begun
	done       chan struct{} // made by Done on first use, closed by close
	afterClose []*func()     // registered by AfterClose (usually one or two), run by close

	dropped atomic.Uint64
	slow    atomic.Bool // inside a slow-consumer episode (see slowReporter)
}

// MailboxOption configures the mailbox of a new Subscriber (see PubSub.NewSubscriber). Options are
// values, like SubscribeOption; NewSubscriber reports an invalid one.
type MailboxOption struct {
	size      int
	policy    OverflowPolicy
	hasSize   bool
	hasPolicy bool
}

// WithMailboxSize bounds the subscriber's mailbox to n messages, n ≥ 1.
func WithMailboxSize(n int) MailboxOption { return MailboxOption{size: n, hasSize: true} }

// WithOverflow sets what the subscriber's full mailbox does: drop the newest (DropNewest), drop the
// oldest (DropOldest), or close the subscriber (CloseOnOverflow).
func WithOverflow(p OverflowPolicy) MailboxOption { return MailboxOption{policy: p, hasPolicy: true} }

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

// C returns the mailbox. It is closed by Close, after which it yields what was queued, then nothing.
func (s *Subscriber) C() <-chan Message { return s.ch }

// Dropped returns how many messages the mailbox has dropped because it was full.
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
	if s.closeErr != nil {
		return s.closeErr
	}
	canonical, sl := s.ps.registry.add(topic, Entry{Subscriber: s, Metadata: metadata})
	sl.next = s.topics[canonical]
	s.topics[canonical] = sl
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
	if s.closeErr != nil {
		return s.closeErr
	}
	sl, ok := s.topics[topic]
	if !ok {
		return nil
	}
	delete(s.topics, topic)
	s.ps.registry.remove(topic, sl)
	return nil
}

// Receive waits for the next message. It returns ctx's error when ctx ends first, and, once the
// subscriber is closed and its mailbox is empty, why it closed: ErrSubscriberClosed (its Close),
// ErrSlowConsumer (the CloseOnOverflow policy) or ErrClosed (the PubSub's Close).
func (s *Subscriber) Receive(ctx context.Context) (Message, error) {
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
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	return s.enqueue(msg)
}

// enqueue is Deliver for callers that know the mailbox is open: it is closed only under s.mu, and only
// after every subscription was removed under its partition's lock (see registry.deliver).
func (s *Subscriber) enqueue(msg Message) bool {
	select {
	case s.ch <- msg:
		return true
	default:
		return s.overflow(msg)
	}
}

// overflow applies the overflow policy to msg, which did not fit, and starts a slow-consumer episode.
func (s *Subscriber) overflow(msg Message) bool {
	queued := false
	if s.policy == DropOldest {
		select {
		case <-s.ch:
			s.dropped.Add(1)
		default:
		}
		select {
		case s.ch <- msg:
			queued = true
		default:
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

// Close removes every subscription of the subscriber and closes its mailbox, like a process exit.
// Messages already queued stay readable from C. Close is idempotent and always returns nil.
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
	if s.closeErr != nil {
		s.subsMu.Unlock()
		return
	}
	s.closeErr = reason
	topics := s.topics
	s.topics = nil
	if s.done != nil {
		close(s.done)
	}
	after := s.afterClose
	s.afterClose = nil
	s.subsMu.Unlock()
	for _, f := range after {
		go (*f)()
	}

	for topic, sl := range topics {
		s.ps.registry.remove(topic, sl)
	}
	s.mu.Lock()
	s.closed = true
	close(s.ch)
	s.mu.Unlock()
	s.ps.forget(s)
}

func (s *Subscriber) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Done returns a channel that is closed when the subscriber is closed (by Close, or by its PubSub's
// Close). With C and a context it lets a goroutine select on the subscriber's end, and it makes a
// Subscriber a tracker owner: its presences end when it closes.
func (s *Subscriber) Done() <-chan struct{} {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.closeErr != nil {
			close(s.done)
		}
	}
	return s.done
}

// AfterClose arranges for f to run in its own goroutine once the subscriber is closed, like
// context.AfterFunc: at once if it already is. stop unregisters f and reports whether it did so before f
// was started. It costs no goroutine while the subscriber is open, which is why the tracker prefers it to
// Done for watching many owners.
func (s *Subscriber) AfterClose(f func()) (stop func() bool) {
	key := &f
	s.subsMu.Lock()
	if s.closeErr != nil {
		s.subsMu.Unlock()
		go f()
		return func() bool { return false }
	}
	s.afterClose = append(s.afterClose, key)
	s.subsMu.Unlock()
	return func() bool {
		s.subsMu.Lock()
		defer s.subsMu.Unlock()
		for i, k := range s.afterClose {
			if k == key {
				s.afterClose = slices.Delete(s.afterClose, i, i+1)
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
	return s.closeErr
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
