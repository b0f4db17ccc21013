package pubsub

import (
	"hash/maphash"
	"sync"
)

// registry holds the local subscriptions, partitioned by topic hash. Phoenix partitions its Registry by
// subscriber pid, so a broadcast visits every partition; partitioning by topic lets a broadcast take one
// read lock, lets broadcasts on different topics run on different cores without sharing a lock, and
// hands a dispatcher all of a topic's entries in one call.
//
// Layout. Most topics at scale have one subscriber (a user's own topic, one connection's): they cost a
// slot in a map from topic to *Subscriber and nothing else, no allocation of their own (about 40 bytes
// a subscription, plus the subscriber's side, see topicset.go). Topics with several subscriptions, or
// whose subscription carries metadata, get a topicSubs: a slice that a broadcast walks, and past
// indexAt subscribers a map from subscriber to position, so that a subscriber leaves in O(1).
type registry struct {
	seed   maphash.Seed
	mask   uint64
	parts  []partition
	router TopicRouter // told of each topic's first and last local subscription (interest); nil: none
}

type partition struct {
	mu   sync.RWMutex
	one  map[string]*Subscriber // topics with a single subscription, without metadata
	many map[string]*topicSubs  // every other topic; a topic is in one map or the other, never both
	_    [88]byte               // keep partitions on separate cache lines: RLock writes to mu
}

// topicSubs is the subscriptions of a topic in partition.many: one subscription per subscriber, its
// duplicates (a subscriber that subscribed again) listed in it.
type topicSubs struct {
	subs  []subscription
	index map[*Subscriber]int32 // position in subs, once subs is longer than indexAt; else nil
}

// indexAt is the number of subscribers past which a topic indexes them by subscriber: below it a
// linear scan of the slice is as fast as a map and costs nothing.
const indexAt = 16

type subscription struct {
	Entry
	dups *[]any // the metadata of the subscriber's further subscriptions to the topic, or nil
}

func newRegistry(size int) *registry {
	r := &registry{seed: maphash.MakeSeed(), mask: uint64(size - 1), parts: make([]partition, size)}
	for i := range r.parts {
		r.parts[i].one = make(map[string]*Subscriber)
		r.parts[i].many = make(map[string]*topicSubs)
	}
	return r
}

func (r *registry) partition(topic string) *partition {
	return &r.parts[maphash.String(r.seed, topic)&r.mask]
}

// add records a subscription of s to topic with metadata, and reports whether it created the topic's
// entry: the topic's first subscription on this node.
func (r *registry) add(topic string, s *Subscriber, metadata any) (created bool) {
	p := r.partition(topic)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ts := p.many[topic]; ts != nil {
		ts.add(s, metadata)
		return false
	}
	if first := p.one[topic]; first != nil { // a second subscription: the topic moves to p.many
		delete(p.one, topic)
		ts := &topicSubs{subs: make([]subscription, 1, 2)}
		ts.subs[0].Subscriber = first
		ts.add(s, metadata)
		p.many[topic] = ts
		return false
	}
	// The topic's entry is created: its first subscription on this node.
	if metadata == nil {
		p.one[topic] = s
	} else {
		p.many[topic] = &topicSubs{subs: []subscription{{Entry: Entry{Subscriber: s, Metadata: metadata}}}}
	}
	r.interest(topic, true)
	return true
}

// remove deletes every subscription of s to topic, which s holds, and reports whether it deleted the
// topic's entry: its last subscription on this node is gone.
func (r *registry) remove(topic string, s *Subscriber) (deleted bool) {
	p := r.partition(topic)
	p.mu.Lock()
	defer p.mu.Unlock()
	// s holds topic, so a compact entry for it is s's: delete it without looking first (one probe).
	if n := len(p.one); n > 0 {
		delete(p.one, topic)
		if len(p.one) < n {
			r.interest(topic, false)
			return true // the topic's entry is deleted
		}
	}
	ts := p.many[topic]
	if ts == nil || !ts.remove(s) {
		return false
	}
	switch {
	case len(ts.subs) == 0:
		delete(p.many, topic)
		r.interest(topic, false)
		return true // the topic's entry is deleted
	case len(ts.subs) == 1 && ts.subs[0].Metadata == nil && ts.subs[0].dups == nil:
		p.one[topic] = ts.subs[0].Subscriber // back to the compact form
		delete(p.many, topic)
	}
	return false
}

// find returns the position of s's subscription, or -1.
func (ts *topicSubs) find(s *Subscriber) int {
	if ts.index != nil {
		if i, ok := ts.index[s]; ok {
			return int(i)
		}
		return -1
	}
	for i := range ts.subs {
		if ts.subs[i].Subscriber == s {
			return i
		}
	}
	return -1
}

func (ts *topicSubs) add(s *Subscriber, metadata any) {
	if i := ts.find(s); i >= 0 { // a duplicate
		sub := &ts.subs[i]
		if sub.dups == nil {
			sub.dups = new([]any)
		}
		*sub.dups = append(*sub.dups, metadata)
		return
	}
	ts.subs = append(ts.subs, subscription{Entry: Entry{Subscriber: s, Metadata: metadata}})
	switch n := len(ts.subs); {
	case ts.index != nil:
		ts.index[s] = int32(n - 1)
	case n > indexAt:
		ts.index = make(map[*Subscriber]int32, n)
		for i := range ts.subs {
			ts.index[ts.subs[i].Subscriber] = int32(i)
		}
	}
}

// remove removes s's subscription (and its duplicates) by moving the last one into its place, and
// reports whether there was one.
func (ts *topicSubs) remove(s *Subscriber) bool {
	i := ts.find(s)
	if i < 0 {
		return false
	}
	last := len(ts.subs) - 1
	ts.subs[i] = ts.subs[last]
	ts.subs[last] = subscription{}
	ts.subs = ts.subs[:last]
	if ts.index != nil {
		delete(ts.index, s)
		if i < last {
			ts.index[ts.subs[i].Subscriber] = int32(i)
		}
		if last < indexAt/2 {
			ts.index = nil // small again: scan
		}
	}
	if c := cap(ts.subs); c > 64 && last < c/4 { // give back memory once a big topic has drained
		ts.subs = append([]subscription(nil), ts.subs...)
	}
	return true
}

// deliver sends msg to every subscriber of topic except from, with the default dispatcher's rule. It
// holds the partition's read lock throughout, which is what makes enqueue safe: a subscriber closes its
// mailbox only after removing its subscriptions, under this lock. enqueue never blocks and calls no
// user code.
func (r *registry) deliver(topic string, from *Subscriber, msg Message) {
	p := r.partition(topic)
	p.mu.RLock()
	if s := p.one[topic]; s != nil {
		if s != from {
			s.enqueue(msg)
		}
	} else if ts := p.many[topic]; ts != nil {
		for i := range ts.subs {
			sub := &ts.subs[i]
			if s := sub.Subscriber; s != from {
				s.enqueue(msg)
				if sub.dups != nil {
					for range *sub.dups {
						s.enqueue(msg)
					}
				}
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
	entries := (*buf)[:0]
	p.mu.RLock()
	if s := p.one[topic]; s != nil {
		entries = append(entries, Entry{Subscriber: s})
	} else if ts := p.many[topic]; ts != nil {
		for i := range ts.subs {
			sub := &ts.subs[i]
			entries = append(entries, sub.Entry)
			if sub.dups != nil {
				for _, m := range *sub.dups {
					entries = append(entries, Entry{Subscriber: sub.Subscriber, Metadata: m})
				}
			}
		}
	}
	p.mu.RUnlock()
	*buf = entries
	if len(entries) > 0 {
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
	_, ok := p.one[topic]
	if !ok {
		_, ok = p.many[topic]
	}
	p.mu.RUnlock()
	return ok
}
