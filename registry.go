package pubsub

import (
	"hash/maphash"
	"sync"
)

// registry holds the local subscriptions, partitioned by topic hash. Phoenix partitions its Registry by
// subscriber pid, so a broadcast visits every partition; partitioning by topic lets a broadcast take one
// read lock, lets broadcasts on different topics run on different cores without sharing a lock, and
// hands a dispatcher all of a topic's entries in one call.
type registry struct {
	seed   maphash.Seed
	mask   uint64
	parts  []partition
	router TopicRouter // told of each topic's first and last local subscription (interest); nil: none
}

type partition struct {
	mu     sync.RWMutex
	topics map[string]*topicSubs
	_      [96]byte // keep partitions on separate cache lines: RLock writes to mu
}

// topicSubs is one topic's subscriptions. Each records its index in its slot, so a subscription is
// removed in O(1) by moving the last one into its place. A topic with one subscription (a per-user
// topic, say) keeps it inline.
type topicSubs struct {
	topic string
	subs  []subscription
	one   [1]subscription
}

type subscription struct {
	Entry
	slot *slot
}

// slot is the subscriber's handle on one subscription. Duplicates of a topic chain through next.
// idx is read and written only under the topic's partition lock.
type slot struct {
	idx  int
	next *slot
}

func newRegistry(size int) *registry {
	r := &registry{seed: maphash.MakeSeed(), mask: uint64(size - 1), parts: make([]partition, size)}
	for i := range r.parts {
		r.parts[i].topics = make(map[string]*topicSubs)
	}
	return r
}

func (r *registry) partition(topic string) *partition {
	return &r.parts[maphash.String(r.seed, topic)&r.mask]
}

// add records e under topic and returns the registry's copy of the topic string (so that callers can
// key on it without keeping their own) and the new subscription's slot.
func (r *registry) add(topic string, e Entry) (string, *slot) {
	p := r.partition(topic)
	sl := &slot{}
	p.mu.Lock()
	ts := p.topics[topic]
	if ts == nil {
		ts = &topicSubs{topic: topic}
		ts.subs = ts.one[:0]
		p.topics[topic] = ts
		r.interest(ts.topic, true)
	}
	sl.idx = len(ts.subs)
	ts.subs = append(ts.subs, subscription{e, sl})
	p.mu.Unlock()
	return ts.topic, sl
}

// remove deletes the subscriptions in the chain sl from topic, and the topic once it is empty.
func (r *registry) remove(topic string, sl *slot) {
	p := r.partition(topic)
	p.mu.Lock()
	if ts := p.topics[topic]; ts != nil {
		for ; sl != nil; sl = sl.next {
			ts.removeAt(sl.idx)
		}
		if len(ts.subs) == 0 {
			delete(p.topics, topic)
			r.interest(topic, false)
		}
	}
	p.mu.Unlock()
}

func (ts *topicSubs) removeAt(i int) {
	last := len(ts.subs) - 1
	ts.subs[i] = ts.subs[last]
	ts.subs[i].slot.idx = i
	ts.subs[last] = subscription{}
	ts.subs = ts.subs[:last]
	if c := cap(ts.subs); c > 64 && last < c/4 { // give back memory once a big topic has drained
		ts.subs = append([]subscription(nil), ts.subs...)
	}
}

// deliver sends msg to every subscriber of topic except from, with the default dispatcher's rule. It
// holds the partition's read lock throughout, which is what makes enqueue safe: a subscriber closes its
// mailbox only after removing its subscriptions, under this lock. enqueue never blocks and calls no
// user code.
func (r *registry) deliver(topic string, from *Subscriber, msg Message) {
	p := r.partition(topic)
	p.mu.RLock()
	if ts := p.topics[topic]; ts != nil {
		for i := range ts.subs {
			if s := ts.subs[i].Subscriber; s != from {
				s.enqueue(msg)
			}
		}
	}
	p.mu.RUnlock()
}

// entryBufs recycles the copies of entries handed to custom dispatchers.
var entryBufs = sync.Pool{New: func() any { return new([]Entry) }}

// dispatch hands a copy of topic's entries to d, outside the partition lock, so that a dispatcher may
// subscribe, unsubscribe or broadcast without deadlocking. It does not call d when the topic has no
// subscriber, like Phoenix, which calls a dispatcher only with a non-empty partition.
func (r *registry) dispatch(topic string, d Dispatcher, from *Subscriber, msg Message) {
	p := r.partition(topic)
	buf := entryBufs.Get().(*[]Entry)
	p.mu.RLock()
	if ts := p.topics[topic]; ts != nil {
		entries := (*buf)[:0]
		for i := range ts.subs {
			entries = append(entries, ts.subs[i].Entry)
		}
		*buf = entries
	}
	p.mu.RUnlock()
	if entries := *buf; len(entries) > 0 {
		defer func() { // also on panic, so that a panicking dispatcher does not leak the buffer's references
			clear(entries)
			*buf = entries[:0]
			entryBufs.Put(buf)
		}()
		d.Dispatch(entries, from, msg)
		return
	}
	entryBufs.Put(buf)
}

// has reports whether topic has a subscriber on this node. A remote frame for a topic nobody here
// holds is dropped before its payload is decoded.
func (r *registry) has(topic string) bool {
	p := r.partition(topic)
	p.mu.RLock()
	ts := p.topics[topic]
	p.mu.RUnlock()
	return ts != nil
}
