package tracker

import (
	"slices"
	"unsafe"
)

// Listing a topic renders its values as Presences. That is cheap (a Presence's Meta is its value's
// shared map, and its Ref is rendered into one buffer for the whole List), so a topic listed once is
// rendered for that List and nothing is kept: a new node listing each of its million presences once
// holds no copy of them. A topic listed again keeps a listing: its Presences, kept up to date as
// presences join and leave, so that a List after a change renders only what joined, and copies the rest.

// list returns the topic's presences, a fresh slice the caller may keep and sort. The metadata maps are
// shared: read-only.
func (vs *views) list(topic string) []Presence {
	tv := vs.get(topic)
	if tv == nil {
		return nil
	}
	tv.mu.RLock()
	if l := tv.list; l != nil && l.current() {
		out := slices.Clone(l.rendered)
		tv.mu.RUnlock()
		return out
	}
	if tv.list == nil && !tv.listedOnce.Swap(true) {
		out := renderValues(tv.vals)
		tv.mu.RUnlock()
		return out
	}
	tv.mu.RUnlock()
	tv.mu.Lock()
	defer tv.mu.Unlock()
	if tv.list == nil {
		tv.list = newListing(tv.vals)
	} else {
		tv.list.catchUp(tv.vals)
	}
	return slices.Clone(tv.list.rendered)
}

// dropList forgets the listing (too many changes since the last List: the topic is not listed often).
// mu held for writing.
func (tv *topicView) dropList() {
	tv.list = nil
	tv.listedOnce.Store(false)
}

// listing is a listed topic's Presences (rendered), and the values they show (order, in the same order),
// plus the joins and leaves since they were brought up to date.
type listing struct {
	rendered []Presence
	order    []*value
	joins    []*value
	leaves   []*value
}

// maxListedLeaves is the number of leaves a listing takes one by one (each a scan of order); past it,
// the next List renders the topic anew.
const maxListedLeaves = 16

func newListing(values []*value) *listing {
	l := &listing{order: slices.Clone(values)}
	l.rendered = renderValues(l.order)
	return l
}

// current reports whether the listing shows every change.
func (l *listing) current() bool { return len(l.joins) == 0 && len(l.leaves) == 0 }

// joined notes a join; false if the listing is not worth keeping (more changes than half the topic since
// the last List).
func (l *listing) joined(v *value, n int) bool {
	l.joins = append(l.joins, v)
	return len(l.joins)+len(l.leaves) <= n/2+maxListedLeaves
}

// left notes a leave, as joined.
func (l *listing) left(v *value, n int) bool {
	l.leaves = append(l.leaves, v)
	return len(l.joins)+len(l.leaves) <= n/2+maxListedLeaves
}

// catchUp brings the listing up to date with values, the topic's: a few leaves are taken out one by
// one, more make it render everything again; joins are rendered and added. The same value may leave and
// join again (its replica down, then up): each leave takes out one showing of it, a join not yet
// rendered first, and each join adds one.
func (l *listing) catchUp(values []*value) {
	if len(l.leaves) > maxListedLeaves {
		*l = *newListing(values)
		return
	}
	for _, v := range l.leaves {
		if i := slices.Index(l.joins, v); i >= 0 { // joined and left since the last List
			l.joins = slices.Delete(l.joins, i, i+1)
			continue
		}
		if i := slices.Index(l.order, v); i >= 0 {
			last := len(l.order) - 1
			l.order[i], l.rendered[i] = l.order[last], l.rendered[last]
			l.order[last], l.rendered[last] = nil, Presence{}
			l.order, l.rendered = l.order[:last], l.rendered[:last]
		}
	}
	for _, v := range l.joins {
		l.order = append(l.order, v)
		l.rendered = append(l.rendered, v.presence())
	}
	clear(l.joins)
	clear(l.leaves)
	l.joins, l.leaves = l.joins[:0], l.leaves[:0]
}

// renderValues returns the values as Presences, in their order: the refs held as refIDs are rendered
// into one buffer, one allocation for all.
func renderValues(values []*value) []Presence {
	if len(values) == 0 {
		return nil
	}
	buf := make([]byte, len(values)*refLen)
	out := make([]Presence, len(values))
	for i, v := range values {
		if !v.ref.ok {
			out[i] = v.presence()
			continue
		}
		b := buf[:refLen:refLen]
		buf = buf[refLen:]
		v.ref.encodeTo(b)
		out[i] = v.presenceRef(unsafe.String(&b[0], refLen))
	}
	return out
}
