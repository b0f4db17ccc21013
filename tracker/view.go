package tracker

import (
	"slices"
	"sync"
	"sync/atomic"
)

// views are what List and GetByKey read: per topic, the visible presences, kept up to date from the very
// joins and leaves the shard reports as diffs. A reader takes one topic's read lock (held by writers only
// for a map insert or delete), never the shard's lock, so reads never queue behind a merge or a handler.
type views struct {
	mu     sync.RWMutex
	topics map[string]*topicView
}

type topicView struct {
	mu sync.RWMutex
	// values are the visible values: immutable, Presences are made when read. Keyed by pointer (8 bytes
	// a slot where a tag took 32): a leave reports the very value its join did (the state hands out the
	// values it holds; TestStateProperties checks it).
	values map[*value]struct{}
	// rendered holds the Presences (their Meta maps built) of a topic that was listed: nil until its
	// first List, then kept for later ones, so that a List after a change renders only what changed.
	// Topics nobody lists hold no rendered maps.
	rendered map[*value]Presence
	// pending are the values joined since rendered was last brought up to date (some may have left
	// since). Past len(values), rendered is dropped instead: a topic listed once holds no garbage.
	pending  []*value
	snapshot atomic.Pointer[[]Presence] // cached List result; nil after a change
}

func newViews() *views { return &views{topics: make(map[string]*topicView)} }

func (vs *views) get(topic string) *topicView {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	return vs.topics[topic]
}

// apply records a diff's joins and leaves. Called by the shard, in the order of the changes.
func (vs *views) apply(joins, leaves []*value) {
	for _, v := range leaves {
		if tv := vs.get(v.topic); tv != nil {
			tv.mu.Lock()
			delete(tv.values, v)
			delete(tv.rendered, v)
			tv.snapshot.Store(nil)
			empty := len(tv.values) == 0
			tv.mu.Unlock()
			if empty {
				vs.dropIfEmpty(v.topic)
			}
		}
	}
	for _, v := range joins {
		tv := vs.getOrMake(v.topic)
		tv.mu.Lock()
		tv.values[v] = struct{}{}
		tv.addPending(v)
		tv.snapshot.Store(nil)
		tv.mu.Unlock()
	}
}

// batchJoins is the number of joins from which the shard groups them by topic first (groupByTopic,
// joinTopic).
const batchJoins = 64

// groupByTopic returns joins grouped by topic, in their order within each topic.
func groupByTopic(joins []*value) map[string][]*value {
	byTopic := make(map[string][]*value)
	for _, v := range joins {
		byTopic[v.topic] = append(byTopic[v.topic], v)
	}
	return byTopic
}

// joinTopic records joins of one topic (a part of a full state: thousands over many topics, grouped by
// the shard): one lookup and one lock for all, and a new topic's map made at their number.
func (vs *views) joinTopic(topic string, joins []*value) {
	tv := vs.getOrMakeSized(topic, len(joins))
	tv.mu.Lock()
	for _, v := range joins {
		tv.values[v] = struct{}{}
		tv.addPending(v)
	}
	tv.snapshot.Store(nil)
	tv.mu.Unlock()
}

// replace swaps each presence olds[i] for news[i], the same presence under a new tag (state.renew), one
// at a time under its topic's lock, so that a reader sees each presence once.
func (vs *views) replace(olds, news []*value) {
	for i, old := range olds {
		v := news[i]
		tv := vs.getOrMake(v.topic)
		tv.mu.Lock()
		delete(tv.values, old)
		delete(tv.rendered, old)
		tv.values[v] = struct{}{}
		tv.addPending(v)
		tv.snapshot.Store(nil)
		tv.mu.Unlock()
	}
}

// addPending notes a join for rendered. mu held for writing.
func (tv *topicView) addPending(v *value) {
	if tv.rendered == nil {
		return
	}
	if len(tv.pending) >= len(tv.values) {
		tv.rendered, tv.pending = nil, nil
		return
	}
	tv.pending = append(tv.pending, v)
}

func (vs *views) getOrMake(topic string) *topicView { return vs.getOrMakeSized(topic, 0) }

// getOrMakeSized is getOrMake, a new topic's map made for size values.
func (vs *views) getOrMakeSized(topic string, size int) *topicView {
	if tv := vs.get(topic); tv != nil {
		return tv
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	tv := vs.topics[topic]
	if tv == nil {
		tv = &topicView{values: make(map[*value]struct{}, size)}
		vs.topics[topic] = tv
	}
	return tv
}

// dropIfEmpty deletes an empty topic, so that topics named after ids do not accumulate.
func (vs *views) dropIfEmpty(topic string) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if tv := vs.topics[topic]; tv != nil {
		tv.mu.RLock()
		empty := len(tv.values) == 0
		tv.mu.RUnlock()
		if empty {
			delete(vs.topics, topic)
		}
	}
}

// list returns the topic's presences, a fresh slice the caller may keep and sort. The metadata maps
// are shared: read-only.
func (vs *views) list(topic string) []Presence {
	tv := vs.get(topic)
	if tv == nil {
		return nil
	}
	if p := tv.snapshot.Load(); p != nil {
		return slices.Clone(*p)
	}
	tv.mu.Lock() // for writing: rendered changes
	defer tv.mu.Unlock()
	if p := tv.snapshot.Load(); p != nil { // another List made it meanwhile
		return slices.Clone(*p)
	}
	if tv.rendered == nil {
		tv.rendered = make(map[*value]Presence, len(tv.values))
		for v := range tv.values {
			tv.rendered[v] = v.presence()
		}
	} else {
		for _, v := range tv.pending {
			if _, ok := tv.values[v]; ok {
				if _, ok := tv.rendered[v]; !ok {
					tv.rendered[v] = v.presence()
				}
			}
		}
	}
	clear(tv.pending)
	tv.pending = tv.pending[:0]
	list := make([]Presence, 0, len(tv.rendered))
	for _, p := range tv.rendered {
		list = append(list, p)
	}
	tv.snapshot.Store(&list)
	return slices.Clone(list)
}

func (vs *views) getByKey(topic, key string) []Presence {
	tv := vs.get(topic)
	if tv == nil {
		return nil
	}
	tv.mu.RLock()
	defer tv.mu.RUnlock()
	var out []Presence
	for v := range tv.values {
		if v.key == key {
			p, ok := tv.rendered[v]
			if !ok {
				p = v.presence()
			}
			out = append(out, p)
		}
	}
	return out
}
