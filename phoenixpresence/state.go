package phoenixpresence

import (
	"slices"

	"github.com/phxgo/pubsub/internal/etf"
)

// vkey identifies a value by {topic, pid, key}, as Phoenix.Tracker.State's ETS table keys them: the
// replica's own values are looked up by it. KeyID is the key's identity (a binary key as itself,
// another term by its encoding).
type vkey struct {
	Topic string
	Pid   etf.Pid
	KeyID string
}

// value is one tracked presence: {pid, topic, key, meta} under its tag.
type value struct {
	Pid   etf.Pid
	Topic string
	Key   any // the key term: a string for every presence Phoenix.Presence and Go track
	KeyID string
	Meta  any // the meta term as it travels: an etf.Map (atom keys) or a map[string]any
	Tag   tag
}

func (v *value) vkey() vkey { return vkey{Topic: v.Topic, Pid: v.Pid, KeyID: v.KeyID} }

// cloud is a replica's set of dots not yet folded into the context.
type cloud map[tag]struct{}

type clouds map[replicaRef]cloud

func (cs clouds) put(t tag) {
	c := cs[t.Replica]
	if c == nil {
		c = cloud{}
		cs[t.Replica] = c
	}
	c[t] = struct{}{}
}

func (cs clouds) delete(t tag) {
	if c := cs[t.Replica]; c != nil {
		delete(c, t)
	}
}

func (cs clouds) has(t tag) bool {
	_, ok := cs[t.Replica][t]
	return ok
}

// take returns the clouds of the replicas of keys.
func (cs clouds) take(keys causal) clouds {
	out := make(clouds, len(keys))
	for r := range keys {
		if c, ok := cs[r]; ok {
			out[r] = c.clone()
		}
	}
	return out
}

func (c cloud) clone() cloud {
	out := make(cloud, len(c))
	for t := range c {
		out[t] = struct{}{}
	}
	return out
}

// in is State.in?: the dot is covered by the context or the clouds.
func in(ctx causal, cs clouds, t tag) bool {
	if c, ok := ctx[t.Replica]; ok && c >= t.Clock {
		return true
	}
	return cs.has(t)
}

// wireState is a Phoenix.Tracker.State as it travels: a delta (mode :delta, heartbeats and delta
// transfers) or a full state without its values (mode :normal, the first element of a full-state
// transfer_ack) with the values beside it. Values is the map of tag to value in both cases.
type wireState struct {
	Delta      bool
	Replica    replicaRef
	Context    causal
	Clouds     clouds
	Values     map[tag]*value
	RangeStart causal
	RangeEnd   causal
	Replicas   map[replicaRef]bool // up (true) or down; a full state's only, informational
}

// state is Phoenix.Tracker.State in mode :normal: one replica's view of every replica's presences.
// It is not safe for concurrent use.
//
// One difference from Phoenix: values are keyed by their dot, not by {topic, pid, key}. In Phoenix a
// join overwrites whatever value has the same {topic, pid, key}, so a stale full state (from a third
// replica that missed an update) can replace the newer value of an update with the older one, whose
// removal then takes both away for good: the property test finds such runs. Keyed by dot, both stay
// until the older one's removal arrives, and the replicas converge.
type state struct {
	replica  replicaRef
	causal   causal
	clouds   clouds
	values   map[tag]*value
	own      map[vkey]tag // this replica's values
	byTopic  map[string]map[tag]*value
	down     map[replicaRef]bool // State.replicas: present and true when down
	delta    *wireState
	valuesOf map[replicaRef]int // number of values per replica, for the bounds
	sizes    []int              // the delta generations' sizes (none: transfers send the full state)
	gens     []*wireState       // the delta generations
}

func newState(self replicaRef) *state {
	s := &state{
		replica:  self,
		causal:   causal{self: 0},
		clouds:   clouds{},
		values:   map[tag]*value{},
		own:      map[vkey]tag{},
		byTopic:  map[string]map[tag]*value{},
		down:     map[replicaRef]bool{self: false},
		valuesOf: map[replicaRef]int{},
	}
	s.resetDelta()
	return s
}

func (s *state) insert(v *value) {
	if _, ok := s.values[v.Tag]; ok {
		return
	}
	s.values[v.Tag] = v
	s.valuesOf[v.Tag.Replica]++
	if v.Tag.Replica == s.replica {
		s.own[v.vkey()] = v.Tag
	}
	m := s.byTopic[v.Topic]
	if m == nil {
		m = map[tag]*value{}
		s.byTopic[v.Topic] = m
	}
	m[v.Tag] = v
}

func (s *state) remove(t tag) {
	v, ok := s.values[t]
	if !ok {
		return
	}
	delete(s.values, t)
	if s.valuesOf[t.Replica]--; s.valuesOf[t.Replica] <= 0 {
		delete(s.valuesOf, t.Replica)
	}
	if t.Replica == s.replica {
		delete(s.own, v.vkey())
	}
	if m := s.byTopic[v.Topic]; m != nil {
		delete(m, t)
		if len(m) == 0 {
			delete(s.byTopic, v.Topic)
		}
	}
}

// ownValue returns this replica's value of k, or nil.
func (s *state) ownValue(k vkey) *value {
	if t, ok := s.own[k]; ok {
		return s.values[t]
	}
	return nil
}

// resetDelta is State.reset_delta: an empty delta starting at this replica's clock.
func (s *state) resetDelta() {
	ctx := causal{s.replica: s.causal[s.replica]}
	s.delta = &wireState{Delta: true, Replica: s.replica, Context: causal{}, Clouds: clouds{},
		Values: map[tag]*value{}, RangeStart: ctx, RangeEnd: ctx.clone()}
}

// hasDelta is State.has_delta?: some delta cloud is not empty.
func (s *state) hasDelta() bool {
	for _, c := range s.delta.Clouds {
		if len(c) > 0 {
			return true
		}
	}
	return false
}

// takeDelta returns the delta to send in a heartbeat, then resets it, compacts the state and pushes
// the delta into the generations.
func (s *state) takeDelta() *wireState {
	d := s.delta
	s.resetDelta()
	s.compact()
	s.pushDelta(d)
	return d
}

func (s *state) clock() int64 { return s.causal[s.replica] }

// clocks is State.clocks: this replica and its context without the replicas that are down.
func (s *state) clocks() clockOf {
	ctx := make(causal, len(s.causal))
	for r, c := range s.causal {
		if !s.down[r] {
			ctx[r] = c
		}
	}
	return clockOf{Replica: s.replica, Context: ctx}
}

func (s *state) putContext(ctx causal) {
	s.causal = ctx
	s.delta.RangeEnd[s.replica] = ctx[s.replica]
}

func (s *state) bumpClock() tag {
	t := tag{Replica: s.replica, Clock: s.clock() + 1}
	ctx := s.causal
	ctx[s.replica] = t.Clock
	s.clouds.put(t)
	s.delta.Clouds.put(t)
	s.putContext(ctx)
	return t
}

// removeDeltaTag is State.remove_delta_tag: the delta records the removal of the dot.
func (s *state) removeDeltaTag(t tag) {
	s.delta.Clouds.put(t)
	delete(s.delta.Values, t)
}

// join is State.join: a value of this replica.
func (s *state) join(pid etf.Pid, topic string, key any, keyID string, meta any) *value {
	t := s.bumpClock()
	v := &value{Pid: pid, Topic: topic, Key: key, KeyID: keyID, Meta: meta, Tag: t}
	s.insert(v)
	s.delta.Values[t] = v
	return v
}

// leave is State.leave for one value of this replica; it returns the value removed, or nil.
func (s *state) leave(k vkey) *value {
	v := s.ownValue(k)
	if v == nil {
		return nil
	}
	s.remove(v.Tag)
	s.clouds.delete(v.Tag)
	s.removeDeltaTag(v.Tag)
	s.bumpClock()
	return v
}

// leaveJoin is State.leave_join: the value of k gets meta under a new tag; it returns the old and new
// values, or nils when k is not tracked.
func (s *state) leaveJoin(k vkey, meta any) (old, now *value) {
	old = s.ownValue(k)
	if old == nil {
		return nil, nil
	}
	s.remove(old.Tag)
	s.clouds.delete(old.Tag)
	s.removeDeltaTag(old.Tag)
	s.bumpClock()
	t := s.bumpClock()
	now = &value{Pid: old.Pid, Topic: old.Topic, Key: old.Key, KeyID: old.KeyID, Meta: meta, Tag: t}
	s.insert(now)
	s.delta.Values[t] = now
	return old, now
}

// merge is State.merge of a remote delta, or of a full state with its values: it returns the values
// that joined and left.
//
// Values and dots that other replicas claim for this one are ignored (Phoenix would take them): only
// this replica makes its own.
func (s *state) merge(r *wireState) (joins, leaves []*value) {
	for t, v := range r.Values {
		if _, known := s.causal[t.Replica]; !known || t.Replica == s.replica || in(s.causal, s.clouds, t) {
			continue
		}
		joins = append(joins, v)
	}
	// union_clouds, local in mode :normal: only the clouds of replicas this one knows.
	for name, c := range r.Clouds {
		if _, known := s.causal[name]; !known || name == s.replica {
			continue
		}
		for t := range c {
			s.clouds.put(t)
		}
	}
	observe := func(v *value) {
		if v.Tag.Replica == s.replica {
			return
		}
		if _, kept := r.Values[v.Tag]; !kept && in(r.Context, r.Clouds, v.Tag) {
			s.clouds.delete(v.Tag)
			s.removeDeltaTag(v.Tag)
			leaves = append(leaves, v)
		}
	}
	if len(r.Context) == 0 {
		// A delta (its context is empty): only the values of its dots can be removed by it. Looking
		// them up by dot costs the delta's size, not the state's.
		for _, c := range r.Clouds {
			for t := range c {
				if v, ok := s.values[t]; ok {
					observe(v)
				}
			}
		}
	} else {
		for _, v := range s.values {
			observe(v)
		}
	}
	for _, v := range leaves {
		s.remove(v.Tag)
	}
	for _, v := range joins {
		s.insert(v)
	}
	remote := r.Context.take(s.causal)
	delete(remote, s.replica)
	s.putContext(upperbound(s.causal, remote))
	s.compact()
	return joins, leaves
}

// compact is State.compact: dots that continue a replica's context are folded into it.
func (s *state) compact() {
	ctx := s.causal
	for name, c := range s.clouds {
		if len(c) == 0 {
			continue
		}
		sorted := make([]tag, 0, len(c))
		for t := range c {
			sorted = append(sorted, t)
		}
		slices.SortFunc(sorted, compareTag)
		kept := cloud{}
		for _, t := range sorted {
			cur, ok := ctx[t.Replica]
			switch {
			case ok && cur+1 == t.Clock:
				ctx[t.Replica] = t.Clock
			case ok && cur >= t.Clock:
			case !ok && t.Clock == 1:
				ctx[t.Replica] = t.Clock
			default:
				kept[t] = struct{}{}
			}
		}
		s.clouds[name] = kept
	}
	s.putContext(ctx)
}

// replicaUp is State.replica_up: it returns the replica's values, visible again.
func (s *state) replicaUp(r replicaRef) []*value {
	if _, ok := s.causal[r]; !ok {
		s.causal[r] = 0
	}
	s.down[r] = false
	return s.valuesOfReplica(r)
}

// replicaDown is State.replica_down: it returns the replica's values, hidden from now on.
func (s *state) replicaDown(r replicaRef) []*value {
	s.down[r] = true
	return s.valuesOfReplica(r)
}

func (s *state) valuesOfReplica(r replicaRef) []*value {
	if s.valuesOf[r] == 0 {
		return nil
	}
	var out []*value
	for _, v := range s.values {
		if v.Tag.Replica == r {
			out = append(out, v)
		}
	}
	return out
}

// removeDownReplica is State.remove_down_replicas: everything of a replica gone for good.
func (s *state) removeDownReplica(r replicaRef) {
	delete(s.causal, r)
	for _, v := range s.valuesOfReplica(r) {
		s.remove(v.Tag)
	}
	delete(s.clouds, r)
	delete(s.down, r)
	s.removeDownFromGenerations(r)
	d := s.delta
	delete(d.RangeStart, r)
	delete(d.RangeEnd, r)
	delete(d.Clouds, r)
	for t := range d.Values {
		if t.Replica == r {
			delete(d.Values, t)
		}
	}
}

// extract is State.extract in mode :normal, answering a transfer_req: the state restricted to the
// replicas of the remote context, with the values of those replicas. (Phoenix compares the values'
// replicas with the requester's node name, which never equals a replica ref, so the requester's own
// values are sent too; so are they here.)
func (s *state) extract(remote causal) *wireState {
	w := &wireState{Replica: s.replica, Context: s.causal.take(remote), Clouds: s.clouds.take(remote),
		Values: map[tag]*value{}, RangeStart: causal{}, RangeEnd: causal{}, Replicas: map[replicaRef]bool{}}
	for r, down := range s.down {
		w.Replicas[r] = !down
	}
	for _, v := range s.values {
		if _, ok := remote[v.Tag.Replica]; ok {
			w.Values[v.Tag] = v
		}
	}
	return w
}

// online returns the values of topic whose replica is not down.
func (s *state) online(topic string) []*value {
	m := s.byTopic[topic]
	out := make([]*value, 0, len(m))
	for _, v := range m {
		if !s.down[v.Tag.Replica] {
			out = append(out, v)
		}
	}
	return out
}
