package tracker

import (
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
	// vals are the visible values, in no order: immutable, Presences are made when read (cheaply: a
	// value's Meta is its box's shared map, its ref rendered into one buffer per List). Each value knows
	// its place (value.viewPos), so that a leave, which reports the very value its join did (the state
	// hands out the values it holds; TestStateProperties checks it), takes it out at once: 8 bytes a
	// presence, where a map took 10 to 16, and an append per join, where a map insert missed the cache.
	vals []*value
	// list holds the rendered presences of a topic that is listed again and again, kept up to date
	// (view_list.go); nil for the others. listedOnce says a List rendered the topic without keeping it.
	list       *listing
	listedOnce atomic.Bool
}

// joined and left note a change for list. mu held for writing.
func (tv *topicView) joined(v *value) {
	if tv.list != nil && !tv.list.joined(v, len(tv.vals)) {
		tv.dropList()
	}
}

func (tv *topicView) left(v *value) {
	if tv.list != nil && !tv.list.left(v, len(tv.vals)) {
		tv.dropList()
	}
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
			tv.remove(v)
			empty := len(tv.vals) == 0
			tv.mu.Unlock()
			if empty {
				vs.dropIfEmpty(v.topic)
			}
		}
	}
	for _, v := range joins {
		tv := vs.getOrMake(v.topic)
		tv.mu.Lock()
		tv.add(v)
		tv.mu.Unlock()
	}
}

// has reports whether v is in the view. mu held.
func (tv *topicView) has(v *value) bool {
	i := int(v.viewPos) - 1
	return i >= 0 && i < len(tv.vals) && tv.vals[i] == v
}

// add adds v, unless it is there. mu held for writing.
func (tv *topicView) add(v *value) {
	if tv.has(v) {
		return
	}
	tv.vals = append(tv.vals, v)
	v.viewPos = int32(len(tv.vals))
	tv.joined(v)
}

// remove takes v out, if it is there: the last value takes its place. mu held for writing.
func (tv *topicView) remove(v *value) {
	if !tv.has(v) {
		return
	}
	i, last := int(v.viewPos)-1, len(tv.vals)-1
	moved := tv.vals[last]
	tv.vals[i], moved.viewPos = moved, int32(i+1)
	tv.vals[last], v.viewPos = nil, 0
	tv.vals = tv.vals[:last]
	if c := cap(tv.vals); c > 64 && len(tv.vals) < c/4 { // a topic that emptied holds no large array
		tv.vals = append(make([]*value, 0, 2*len(tv.vals)), tv.vals...)
	}
	tv.left(v)
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
		tv.add(v)
	}
	tv.mu.Unlock()
}

// replace swaps each presence olds[i] for news[i], the same presence under a new tag (state.renew), one
// at a time under its topic's lock, so that a reader sees each presence once.
func (vs *views) replace(olds, news []*value) {
	for i, old := range olds {
		v := news[i]
		tv := vs.getOrMake(v.topic)
		tv.mu.Lock()
		tv.remove(old)
		tv.add(v)
		tv.mu.Unlock()
	}
}

func (vs *views) getOrMake(topic string) *topicView { return vs.getOrMakeSized(topic, 0) }

// getOrMakeSized is getOrMake, a new topic made with room for size values.
func (vs *views) getOrMakeSized(topic string, size int) *topicView {
	if tv := vs.get(topic); tv != nil {
		return tv
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	tv := vs.topics[topic]
	if tv == nil {
		tv = &topicView{vals: make([]*value, 0, size)}
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
		empty := len(tv.vals) == 0
		tv.mu.RUnlock()
		if empty {
			delete(vs.topics, topic)
		}
	}
}

func (vs *views) getByKey(topic, key string) []Presence {
	tv := vs.get(topic)
	if tv == nil {
		return nil
	}
	tv.mu.RLock()
	defer tv.mu.RUnlock()
	var matches []*value
	for _, v := range tv.vals {
		if v.key == key {
			matches = append(matches, v)
		}
	}
	return renderValues(matches)
}
