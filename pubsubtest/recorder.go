package pubsubtest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/phxgo/pubsub"
)

// recorder is the dispatcher registered as recordDispatcher: it records every call and delivers a
// dispatched to every entry, the sender's included, like Phoenix's shared-test CustomDispatcher that
// sends {:custom, metadata, from, message}.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

// call is one Dispatch call seen by the recorder.
type call struct {
	topic   string
	entries []pubsub.Entry // a copy
	from    *pubsub.Subscriber
	payload any
}

// dispatched is what the recorder delivers to each entry: the entry's metadata, the sender it was
// given and the payload. It never crosses nodes: each node's recorder makes its own.
type dispatched struct {
	Metadata any
	From     *pubsub.Subscriber
	Payload  any
}

// Dispatch implements pubsub.Dispatcher.
func (r *recorder) Dispatch(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
	r.mu.Lock()
	r.calls = append(r.calls, call{topic: msg.Topic, entries: slices.Clone(entries), from: from, payload: msg.Payload})
	r.mu.Unlock()
	for _, e := range entries {
		e.Subscriber.Deliver(pubsub.Message{Topic: msg.Topic, Payload: dispatched{Metadata: e.Metadata, From: from, Payload: msg.Payload}})
	}
}

// on returns the calls recorded for topic, in the order they were made.
func (r *recorder) on(topic string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.topic == topic {
			out = append(out, c)
		}
	}
	return out
}

// slowLog records the slow-consumer reports of a cluster (Config.OnSlowConsumer).
type slowLog struct {
	mu     sync.Mutex
	events []pubsub.SlowConsumer
}

func (l *slowLog) add(e pubsub.SlowConsumer) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// of returns the reports about the subscriber with the given id. Ids are unique per PubSub only: a
// check that looks at reports in a cluster keeps its slow subscribers on one node.
func (l *slowLog) of(id uint64) []pubsub.SlowConsumer {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []pubsub.SlowConsumer
	for _, e := range l.events {
		if e.SubscriberID == id {
			out = append(out, e)
		}
	}
	return out
}

// describeCalls formats calls for a failure message.
func describeCalls(calls []call) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, c := range calls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{topic %q, from %v, payload %#v, entries", c.topic, c.from, c.payload)
		for _, e := range c.entries {
			fmt.Fprintf(&b, " (%v, %#v)", e.Subscriber, e.Metadata)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String()
}
