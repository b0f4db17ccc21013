package tracker

import (
	"hash/maphash"
	"iter"
	"slices"
	"time"
)

// The CRDT of the tracker: Phoenix.Tracker.State, an add-wins observed-remove set (ORSWOT) with a causal
// context and dot clouds, replicated by deltas (delta-state CRDT).
//
// A state is a plain data structure: no goroutines, no clocks, no I/O, not safe for concurrent use. One
// shard goroutine owns it and calls every method. Values are immutable once created and may be shared with
// deltas, extracts and other states; meta maps handed to join and leaveJoin belong to the state from then on
// and must not be modified.
//
// Events are exact: every operation returns the values that became visible (joins) and stopped being
// visible (leaves), each change once, so a shard can keep read views for lock-free reads up to date from
// them alone (keyed by tag: an update is a leave of the old tag and a join of the new). The shard reads
// those views, never the state: so the state keeps no index of values by topic (a map entry per value,
// and a map insert per Track, that nothing read), only the topics' names and counts. Reads on the state
// itself (list, getByKey, for tests) are O(values held) and, like every method, belong to the shard
// goroutine.

// tag is a dot: the unique id of one add, the replica that made it and that replica's clock at the time.
type tag struct {
	replica replicaRef
	clock   uint64
}

// value is one element of the set: Phoenix's {{topic, pid, key}, meta, tag}. Immutable.
// The meta is held compactly (meta.go): the user's entries, and the refs as binaries.
type value struct {
	topic string
	owner string
	key   string
	meta  metaData
	tag   tag
	ref   refID // "phx_ref"
	// mark is the mark of the tagSet of the stream whose part joined the value (tagSet.merged), 0 for
	// a value that joined otherwise. Set before the value is shared, never changed after.
	mark uint32
	// viewPos is 1 + the value's place in its topic's view (topicView.vals), 0 when it is not there.
	// Read and written under that view's lock only.
	viewPos int32
}

// presence returns the value as a Presence: its Meta the box's shared map, its ref rendered (a fresh
// string).
func (v *value) presence() Presence {
	return v.presenceRef(v.refString())
}

// presenceRef is presence with the ref rendered by the caller.
func (v *value) presenceRef(ref string) Presence {
	p := Presence{Key: v.key, Ref: ref, Meta: v.meta.user(), Owner: v.owner, Replica: v.tag.replica.Name}
	if v.meta.len() > 0 {
		p.RefPrev = v.refPrevString()
	}
	return p
}

// state is one replica's CRDT (Phoenix's normal-mode State).
type state struct {
	self *replicaState
	// replicas are the known replicas, the state's own included: the keys of the causal context. Entries are
	// removed on permdown (fixing Phoenix #179).
	replicas map[replicaRef]*replicaState
	// down lists the known replicas marked down, whose values reads hide. Usually empty or tiny.
	down []*replicaState
	// permdowned holds tombstones of removed replicas, with the time of removal; see expirePermdowned.
	permdowned map[replicaRef]time.Time
	// topics counts the values held by topic, and holds the topic's name, which they share.
	topics map[string]*topicEntry
	// owners holds the state's own values, by owner (self.values stays empty: a second index of every own
	// value cost a third of Join's time and 25 bytes a presence). ownCount is their number.
	owners   map[string]ownerSlot
	ownCount int
	// delta accumulates local changes since the last takeDelta, for the next heartbeat; deltaCloud is its
	// cloud of own dots.
	delta      *delta
	deltaCloud dotCloud
}

// newState returns an empty state for the replica ref, which knows only itself.
func newState(ref replicaRef) *state {
	self := newReplicaState(ref)
	s := &state{
		self:       self,
		replicas:   map[replicaRef]*replicaState{ref: self},
		permdowned: make(map[replicaRef]time.Time),
		topics:     make(map[string]*topicEntry),
		owners:     make(map[string]ownerSlot),
	}
	s.resetDelta()
	return s
}

// ref returns the state's own replica ref.
func (s *state) ref() replicaRef { return s.self.ref }

// clocks returns the own ref and the causal context without down replicas (Phoenix #136: a down replica in
// the clocks made peers request transfers from each other until it was permdowned). Heartbeats and
// transfer requests carry it; the result is a fresh map.
func (s *state) clocks() (replicaRef, causalContext) {
	ctx := make(causalContext, len(s.replicas))
	for ref, r := range s.replicas {
		if r.status == replicaUp {
			ctx[ref] = r.clock
		}
	}
	return s.self.ref, ctx
}

// context returns the full causal context, down replicas included. A fresh map.
func (s *state) context() causalContext {
	ctx := make(causalContext, len(s.replicas))
	for ref, r := range s.replicas {
		ctx[ref] = r.clock
	}
	return ctx
}

// bumpClock consumes the next dot of the own replica and records it in the delta.
func (s *state) bumpClock() tag {
	s.self.clock++
	t := tag{replica: s.self.ref, clock: s.self.clock}
	s.deltaCloud[t.clock] = struct{}{}
	s.delta.end[t.replica] = t.clock
	return t
}

// joinMeta tracks a new value for (topic, owner, key) with meta and ref, and returns it. If the owner already
// tracks that key in that topic, it returns the existing value and false, changing nothing.
func (s *state) joinMeta(topic, owner, key string, meta metaData, ref refID) (*value, bool) {
	o := s.owners[owner]
	if old := o.find(topic, key); old != nil {
		return old, false
	}
	return s.addOwn(topic, o, owner, key, meta, ref), true
}

// addOwn adds a new own value, with a new dot, to the state and the delta; o is the owner's slot.
func (s *state) addOwn(topic string, o ownerSlot, owner, key string, meta metaData, ref refID) *value {
	if x := o.any(); x != nil {
		owner = x.owner // the owner's values share one string
	}
	set := s.topicSet(topic)
	v := &value{topic: set.topic, owner: owner, key: key, meta: meta, tag: s.bumpClock(), ref: ref}
	s.index(v, set, s.self)
	s.ownerAdd(o, v)
	s.ownCount++
	s.delta.values[v.tag] = v
	return v
}

// leave untracks the own value for (topic, owner, key) and returns it, or nil and false if there is none.
func (s *state) leave(topic, owner, key string) (*value, bool) {
	v := s.owners[owner].find(topic, key)
	if v == nil {
		return nil, false
	}
	s.removeOwn(v)
	s.bumpClock()
	return v, true
}

// leaveOwner untracks every own value of owner and returns them.
func (s *state) leaveOwner(owner string) []*value {
	left := s.ownerValues(owner)
	for _, v := range left {
		s.removeOwn(v)
		s.bumpClock()
	}
	return left
}

// leaveJoinMeta replaces the own value for (topic, owner, key) by one with meta, atomically for readers
// (Phoenix's leave_join, consuming two dots: one for the remove, one for the new tag). It returns the old and
// new values, or false if there is no such value.
func (s *state) leaveJoinMeta(topic, owner, key string, meta metaData, ref refID) (old, v *value, ok bool) {
	if old = s.owners[owner].find(topic, key); old == nil {
		return nil, nil, false
	}
	s.removeOwn(old)
	s.bumpClock()
	return old, s.addOwn(topic, s.owners[owner], old.owner, key, meta, ref), true
}

// removeOwn removes an own value and records the removal in the delta: its tag stays seen (in the delta's
// clouds) while its value goes, which is how a remove travels.
func (s *state) removeOwn(v *value) {
	s.ownCount--
	s.unindex(v)
	s.delta.tombstone(v.tag)
}

// topicEntry is a topic of the state: its name, which the topic's values share, and their number.
type topicEntry struct {
	topic string
	n     int
}

// topicSet returns the entry of topic, creating it. Its topic string is the one values of the topic share.
func (s *state) topicSet(topic string) *topicEntry {
	e := s.topics[topic]
	if e == nil {
		e = &topicEntry{topic: topic}
		s.topics[topic] = e
	}
	return e
}

// index adds a new value of replica r to r's values and counts it in its topic's entry e (the owner index
// of own values is the caller's).
func (s *state) index(v *value, e *topicEntry, r *replicaState) {
	e.n++
	if r != s.self {
		r.values[v.tag.clock] = v
	}
}

// unindex uncounts a value from its topic, and removes it from the owner index (not from its replica's
// values); a topic's entry is dropped once it counts none.
func (s *state) unindex(v *value) {
	if e := s.topics[v.topic]; e != nil {
		if e.n--; e.n <= 0 {
			delete(s.topics, v.topic)
		}
	}
	if v.tag.replica == s.self.ref {
		s.ownerRemove(v)
	}
}

// ownerAdd adds an own value to its owner's slot o.
func (s *state) ownerAdd(o ownerSlot, v *value) {
	switch {
	case o.many != nil:
		o.many.add(v)
	case o.one == nil:
		s.owners[v.owner] = ownerSlot{one: v}
	default:
		many := &ownerValues{}
		many.add(o.one)
		many.add(v)
		s.owners[v.owner] = ownerSlot{many: many}
	}
}

// ownerRemove removes an own value from its owner's slot; an owner left with one value holds it in the
// slot again, and one left with none is dropped.
func (s *state) ownerRemove(v *value) {
	o, ok := s.owners[v.owner]
	switch {
	case !ok:
	case o.many != nil:
		o.many.remove(v)
		switch len(o.many.values) {
		case 0:
			delete(s.owners, v.owner)
		case 1:
			s.owners[v.owner] = ownerSlot{one: o.many.values[0]}
		}
	case o.one == v:
		delete(s.owners, v.owner)
	}
}

// visible reports whether v belongs to a replica that is not marked down.
func (s *state) visible(v *value) bool {
	for _, d := range s.down {
		if v.tag.replica == d.ref {
			return false
		}
	}
	return true
}

// list returns the presences of topic, hiding those of down replicas. The order is unspecified. It
// looks at every value held: the shard reads its views instead (tests compare them with this).
func (s *state) list(topic string) []Presence {
	var out []Presence
	for v := range s.values() {
		if v.topic == topic && s.visible(v) {
			out = append(out, v.presence())
		}
	}
	return out
}

// getByKey returns the presences of key in topic (one per owner tracking it), hiding those of down
// replicas. The order is unspecified. Like list, it looks at every value held.
func (s *state) getByKey(topic, key string) []Presence {
	var out []Presence
	for v := range s.values() {
		if v.topic == topic && v.key == key && s.visible(v) {
			out = append(out, v.presence())
		}
	}
	return out
}

// values iterates over every value held, own and other replicas', down ones' included.
func (s *state) values() iter.Seq[*value] {
	return func(yield func(*value) bool) {
		for v := range s.ownValues() {
			if !yield(v) {
				return
			}
		}
		for _, r := range s.replicas {
			for _, v := range r.values {
				if !yield(v) {
					return
				}
			}
		}
	}
}

// lookup returns the own value for (topic, owner, key), or nil.
func (s *state) lookup(topic, owner, key string) *value {
	return s.owners[owner].find(topic, key)
}

// ownerValues returns the own values of owner (Phoenix's get_by_pid), in tracking order. The slice is fresh.
func (s *state) ownerValues(owner string) []*value {
	o := s.owners[owner]
	if o.many != nil {
		return append([]*value(nil), o.many.values...)
	}
	if o.one != nil {
		return []*value{o.one}
	}
	return nil
}

// size returns the number of values held, down replicas' included.
func (s *state) size() int {
	n := s.ownCount
	for _, r := range s.replicas {
		n += len(r.values)
	}
	return n
}

// ownValues iterates over the state's own values.
func (s *state) ownValues() iter.Seq[*value] {
	return func(yield func(*value) bool) {
		for _, o := range s.owners {
			if o.one != nil {
				if !yield(o.one) {
					return
				}
				continue
			}
			for _, v := range o.many.values {
				if !yield(v) {
					return
				}
			}
		}
	}
}

// smallSetMax is the number of values up to which an owner's values are found by a scan, without an
// index.
const smallSetMax = 8

// topicKey identifies an own value within its owner's values.
type topicKey struct{ topic, key string }

// topicKeySeed seeds the hashes of the owners' indexes.
var topicKeySeed = maphash.MakeSeed()

func hashTopicKey(topic, key string) uint64 {
	return maphash.Comparable(topicKeySeed, topicKey{topic, key})
}

// ownerSlot is an owner's entry in state.owners: its value while it has one (most owners: then the owner
// costs the map's slot alone), and its ownerValues while it has more.
type ownerSlot struct {
	one  *value
	many *ownerValues
}

// any returns one of the owner's values, or nil if it has none.
func (o ownerSlot) any() *value {
	if o.many != nil {
		return o.many.values[0]
	}
	return o.one
}

// find returns the owner's value for (topic, key), or nil.
func (o ownerSlot) find(topic, key string) *value {
	if o.many != nil {
		return o.many.find(topic, key)
	}
	if v := o.one; v != nil && v.key == key && v.topic == topic {
		return v
	}
	return nil
}

// ownerValues are the own values of an owner that has several, with an index by (topic, key) once there
// are many. The index is keyed by a 64-bit hash of (topic, key) (16 bytes a slot where a topicKey key
// took 40); a value whose hash is taken by another goes to collided, which is almost always nil.
type ownerValues struct {
	values   []*value
	index    map[uint64]*value   // nil while len(values) <= smallSetMax
	collided map[topicKey]*value // values whose hash index holds for another (topic, key)
}

// find returns the value for (topic, key), or nil. o may be nil.
func (o *ownerValues) find(topic, key string) *value {
	if o == nil {
		return nil
	}
	if o.index != nil {
		if v := o.index[hashTopicKey(topic, key)]; v != nil && v.key == key && v.topic == topic {
			return v
		}
		return o.collided[topicKey{topic, key}] // nil map: nil
	}
	for _, v := range o.values {
		if v.key == key && v.topic == topic {
			return v
		}
	}
	return nil
}

func (o *ownerValues) add(v *value) {
	o.values = append(o.values, v)
	switch {
	case o.index != nil:
		o.indexAdd(v)
	case len(o.values) > smallSetMax:
		o.index = make(map[uint64]*value, 2*len(o.values))
		for _, x := range o.values {
			o.indexAdd(x)
		}
	}
}

func (o *ownerValues) indexAdd(v *value) {
	h := hashTopicKey(v.topic, v.key)
	if x := o.index[h]; x != nil {
		if o.collided == nil {
			o.collided = make(map[topicKey]*value)
		}
		o.collided[topicKey{v.topic, v.key}] = v
		return
	}
	o.index[h] = v
}

func (o *ownerValues) indexRemove(v *value) {
	tk := topicKey{v.topic, v.key}
	if o.collided[tk] == v {
		delete(o.collided, tk)
	} else {
		h := hashTopicKey(v.topic, v.key)
		delete(o.index, h)
		for k, x := range o.collided { // promote a value that collided on h
			if hashTopicKey(x.topic, x.key) == h {
				o.index[h] = x
				delete(o.collided, k)
				break
			}
		}
	}
	if len(o.collided) == 0 {
		o.collided = nil
	}
}

func (o *ownerValues) remove(v *value) {
	for i, x := range o.values {
		if x == v {
			o.values = slices.Delete(o.values, i, i+1)
			break
		}
	}
	if o.index != nil {
		o.indexRemove(v)
		if len(o.values) <= smallSetMax/2 {
			o.index, o.collided = nil, nil
		}
	}
}
