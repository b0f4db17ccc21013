package phoenixpresence

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/phxgo/pubsub/internal/etf"
)

// ErrBadGossip is wrapped by the errors of gossip that is not a Phoenix.Tracker message of the pinned
// versions, or exceeds the Limits.
var ErrBadGossip = errors.New("phoenixpresence: not a Phoenix.Tracker message")

type msgKind uint8

const (
	msgHeartbeat msgKind = iota + 1
	msgTransferReq
	msgTransferAck
	msgGracefulPermdown
)

func (k msgKind) String() string {
	switch k {
	case msgHeartbeat:
		return "heartbeat"
	case msgTransferReq:
		return "transfer_req"
	case msgTransferAck:
		return "transfer_ack"
	case msgGracefulPermdown:
		return "graceful_permdown"
	}
	return "unknown"
}

// message is one Phoenix.Tracker gossip message:
//
//	{:pub, :heartbeat, ref, :empty | delta, clocks}
//	{:pub, :transfer_req, reference, ref, clocks}
//	{:pub, :transfer_ack, reference, ref, delta | {state, values}}
//	{:pub, :graceful_permdown, ref}
type message struct {
	Kind   msgKind
	From   replicaRef
	State  *wireState // heartbeat (nil for :empty) and transfer_ack
	Clocks clockOf    // heartbeat and transfer_req
	Ref    any        // transfer_req and transfer_ack: the requester's reference, echoed
}

// Limits bound the gossip a replica accepts: a message beyond them is dropped and counted, before
// anything of it is merged.
type Limits struct {
	// MaxValues is the most presences one message may carry. Default 1,000,000.
	MaxValues int
	// MaxReplicas is the most replicas a message's contexts and clouds may name. Default 1,024.
	MaxReplicas int
	// MaxDots is the most dots a message's clouds may hold. Default 1,000,000.
	MaxDots int
}

func (l Limits) withDefaults() Limits {
	if l.MaxValues <= 0 {
		l.MaxValues = 1_000_000
	}
	if l.MaxReplicas <= 0 {
		l.MaxReplicas = 1024
	}
	if l.MaxDots <= 0 {
		l.MaxDots = 1_000_000
	}
	return l
}

// The atoms of the gossip. Encoding uses no others, besides node names.
const (
	atomPub         = etf.Atom("pub")
	atomStruct      = etf.Atom("__struct__")
	atomStateMod    = etf.Atom("Elixir.Phoenix.Tracker.State")
	atomMapSetMod   = etf.Atom("Elixir.MapSet")
	atomEmpty       = etf.Atom("empty")
	atomDelta       = etf.Atom("delta")
	atomNormal      = etf.Atom("normal")
	atomUnset       = etf.Atom("unset")
	atomUp          = etf.Atom("up")
	atomDown        = etf.Atom("down")
	atomPhxRef      = etf.Atom("phx_ref")
	atomPhxRefPrev  = etf.Atom("phx_ref_prev")
	atomHeartbeat   = etf.Atom("heartbeat")
	atomTransferReq = etf.Atom("transfer_req")
	atomTransferAck = etf.Atom("transfer_ack")
	atomPermdown    = etf.Atom("graceful_permdown")
)

type decoder struct {
	lim                    Limits
	nvalues, dots, replica int
	seen                   map[replicaRef]struct{}
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadGossip}, args...)...)
}

// decodeMessage reads a gossip message from its decoded term, within lim.
func decodeMessage(v any, lim Limits) (*message, error) {
	d := &decoder{lim: lim.withDefaults(), seen: map[replicaRef]struct{}{}}
	t, ok := v.(etf.Tuple)
	if !ok || len(t) < 3 || t[0] != atomPub {
		return nil, bad("not a {:pub, ...} tuple")
	}
	m := &message{}
	var err error
	switch t[1] {
	case atomHeartbeat:
		if len(t) != 5 {
			return nil, bad("heartbeat of %d elements", len(t))
		}
		m.Kind = msgHeartbeat
		if m.From, err = d.ref(t[2]); err != nil {
			return nil, err
		}
		if t[3] != atomEmpty {
			if m.State, err = d.state(t[3], true); err != nil {
				return nil, err
			}
		}
		if m.Clocks, err = d.clocks(t[4]); err != nil {
			return nil, err
		}
	case atomTransferReq:
		if len(t) != 5 {
			return nil, bad("transfer_req of %d elements", len(t))
		}
		m.Kind, m.Ref = msgTransferReq, t[2]
		if m.From, err = d.ref(t[3]); err != nil {
			return nil, err
		}
		if m.Clocks, err = d.clocks(t[4]); err != nil {
			return nil, err
		}
	case atomTransferAck:
		if len(t) != 5 {
			return nil, bad("transfer_ack of %d elements", len(t))
		}
		m.Kind, m.Ref = msgTransferAck, t[2]
		if m.From, err = d.ref(t[3]); err != nil {
			return nil, err
		}
		if full, ok := t[4].(etf.Tuple); ok {
			if len(full) != 2 {
				return nil, bad("full-state transfer of %d elements", len(full))
			}
			if m.State, err = d.state(full[0], false); err != nil {
				return nil, err
			}
			if m.State.Values, err = d.values(full[1]); err != nil {
				return nil, err
			}
		} else if m.State, err = d.state(t[4], true); err != nil {
			return nil, err
		}
	case atomPermdown:
		if len(t) != 3 {
			return nil, bad("graceful_permdown of %d elements", len(t))
		}
		m.Kind = msgGracefulPermdown
		if m.From, err = d.ref(t[2]); err != nil {
			return nil, err
		}
	default:
		return nil, bad("unknown message %v", t[1])
	}
	return m, nil
}

// pairs returns the pairs of a decoded map (an etf.Map, or a map[string]any when its keys are all
// binaries, the empty map included).
func pairs(v any) ([]etf.Pair, bool) {
	switch m := v.(type) {
	case etf.Map:
		return m, true
	case map[string]any:
		out := make([]etf.Pair, 0, len(m))
		for k, x := range m {
			out = append(out, etf.Pair{Key: k, Value: x})
		}
		return out, true
	}
	return nil, false
}

func (d *decoder) ref(v any) (replicaRef, error) {
	t, ok := v.(etf.Tuple)
	if !ok || len(t) != 2 {
		return replicaRef{}, bad("a replica ref that is not {name, vsn}: %T", v)
	}
	name, ok1 := t[0].(etf.Atom)
	vsn, ok2 := t[1].(int64)
	if !ok1 || !ok2 {
		return replicaRef{}, bad("a replica ref of %T and %T", t[0], t[1])
	}
	r := replicaRef{Name: string(name), Vsn: vsn}
	if _, ok := d.seen[r]; !ok {
		if d.replica++; d.replica > d.lim.MaxReplicas {
			return r, bad("more than %d replicas", d.lim.MaxReplicas)
		}
		d.seen[r] = struct{}{}
	}
	return r, nil
}

func (d *decoder) tag(v any) (tag, error) {
	t, ok := v.(etf.Tuple)
	if !ok || len(t) != 2 {
		return tag{}, bad("a tag that is not {replica, clock}: %T", v)
	}
	r, err := d.ref(t[0])
	if err != nil {
		return tag{}, err
	}
	c, ok := t[1].(int64)
	if !ok || c < 0 {
		return tag{}, bad("a tag's clock %v", t[1])
	}
	return tag{Replica: r, Clock: c}, nil
}

func (d *decoder) causal(v any) (causal, error) {
	ps, ok := pairs(v)
	if !ok {
		return nil, bad("a context that is not a map: %T", v)
	}
	ctx := make(causal, len(ps))
	for _, p := range ps {
		r, err := d.ref(p.Key)
		if err != nil {
			return nil, err
		}
		c, ok := p.Value.(int64)
		if !ok || c < 0 {
			return nil, bad("a context clock %v", p.Value)
		}
		ctx[r] = c
	}
	return ctx, nil
}

func (d *decoder) clocks(v any) (clockOf, error) {
	t, ok := v.(etf.Tuple)
	if !ok || len(t) != 2 {
		return clockOf{}, bad("clocks that are not {replica, context}: %T", v)
	}
	r, err := d.ref(t[0])
	if err != nil {
		return clockOf{}, err
	}
	ctx, err := d.causal(t[1])
	return clockOf{Replica: r, Context: ctx}, err
}

// mapSet reads a MapSet in either shape: Elixir ≤ 1.14's %{__struct__: MapSet, map: m, version: 2}
// and 1.15+'s without version.
func (d *decoder) mapSet(v any) (cloud, error) {
	ps, ok := pairs(v)
	if !ok {
		return nil, bad("a cloud that is not a MapSet: %T", v)
	}
	var set any
	isSet := false
	for _, p := range ps {
		switch p.Key {
		case atomStruct:
			isSet = p.Value == atomMapSetMod
		case etf.Atom("map"):
			set = p.Value
		case etf.Atom("version"):
		default:
			return nil, bad("a MapSet with key %v", p.Key)
		}
	}
	members, ok := pairs(set)
	if !isSet || !ok {
		return nil, bad("a cloud that is not a MapSet")
	}
	c := make(cloud, len(members))
	for _, p := range members {
		if d.dots++; d.dots > d.lim.MaxDots {
			return nil, bad("more than %d dots", d.lim.MaxDots)
		}
		t, err := d.tag(p.Key)
		if err != nil {
			return nil, err
		}
		c[t] = struct{}{}
	}
	return c, nil
}

func (d *decoder) clouds(v any) (clouds, error) {
	ps, ok := pairs(v)
	if !ok {
		return nil, bad("clouds that are not a map: %T", v)
	}
	cs := make(clouds, len(ps))
	for _, p := range ps {
		r, err := d.ref(p.Key)
		if err != nil {
			return nil, err
		}
		c, err := d.mapSet(p.Value)
		if err != nil {
			return nil, err
		}
		for t := range c {
			if t.Replica != r {
				return nil, bad("a dot of %v in the cloud of %v", t.Replica, r)
			}
		}
		cs[r] = c
	}
	return cs, nil
}

func (d *decoder) values(v any) (map[tag]*value, error) {
	ps, ok := pairs(v)
	if !ok {
		return nil, bad("values that are not a map: %T", v)
	}
	out := make(map[tag]*value, len(ps))
	for _, p := range ps {
		if d.nvalues++; d.nvalues > d.lim.MaxValues {
			return nil, bad("more than %d values", d.lim.MaxValues)
		}
		t, err := d.tag(p.Key)
		if err != nil {
			return nil, err
		}
		x, ok := p.Value.(etf.Tuple)
		if !ok || len(x) != 4 {
			return nil, bad("a value that is not {pid, topic, key, meta}: %T", p.Value)
		}
		pid, ok1 := x[0].(etf.Pid)
		topic, ok2 := x[1].(string)
		_, ok3 := pairs(x[3])
		if !ok1 || !ok2 || !ok3 {
			return nil, bad("a value of %T, %T, %T, %T", x[0], x[1], x[2], x[3])
		}
		id, err := keyID(x[2])
		if err != nil {
			return nil, err
		}
		out[t] = &value{Pid: pid, Topic: topic, Key: x[2], KeyID: id, Meta: x[3], Tag: t}
	}
	return out, nil
}

// keyEncoder encodes keys that are not binaries into their identity; every atom is allowed since the
// result never leaves the process.
var keyEncoder etf.Encoder

// keyID is a key's identity: a binary key is itself, any other term its encoding, marked so that the
// two never collide.
func keyID(k any) (string, error) {
	if s, ok := k.(string); ok {
		return s, nil
	}
	b, err := keyEncoder.Append([]byte{0}, k)
	if err != nil {
		return "", bad("a key that does not encode: %v", err)
	}
	return string(b), nil
}

// keyString renders a key for Go: a binary as itself, an integer in decimal, anything else as %v.
func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case etf.Atom:
		return string(x)
	}
	return fmt.Sprint(k)
}

func (d *decoder) replicaStatus(v any) (map[replicaRef]bool, error) {
	ps, ok := pairs(v)
	if !ok {
		return nil, bad("replicas that are not a map: %T", v)
	}
	out := make(map[replicaRef]bool, len(ps))
	for _, p := range ps {
		r, err := d.ref(p.Key)
		if err != nil {
			return nil, err
		}
		switch p.Value {
		case atomUp:
			out[r] = true
		case atomDown:
			out[r] = false
		default:
			return nil, bad("a replica status %v", p.Value)
		}
	}
	return out, nil
}

func (d *decoder) state(v any, delta bool) (*wireState, error) {
	ps, ok := pairs(v)
	if !ok {
		return nil, bad("a state that is not a map: %T", v)
	}
	w := &wireState{Delta: delta, Values: map[tag]*value{}}
	var err error
	var seenStruct, seenMode, seenReplica bool
	for _, p := range ps {
		switch p.Key {
		case atomStruct:
			seenStruct = p.Value == atomStateMod
		case etf.Atom("mode"):
			want := atomNormal
			if delta {
				want = atomDelta
			}
			seenMode = p.Value == want
		case etf.Atom("replica"):
			w.Replica, err = d.ref(p.Value)
			seenReplica = true
		case etf.Atom("context"):
			w.Context, err = d.causal(p.Value)
		case etf.Atom("clouds"):
			w.Clouds, err = d.clouds(p.Value)
		case etf.Atom("values"):
			if delta {
				w.Values, err = d.values(p.Value)
			}
		case etf.Atom("range"):
			r, ok := p.Value.(etf.Tuple)
			if !ok || len(r) != 2 {
				return nil, bad("a range that is not {start, end}")
			}
			if w.RangeStart, err = d.causal(r[0]); err == nil {
				w.RangeEnd, err = d.causal(r[1])
			}
		case etf.Atom("replicas"):
			// Informational: Phoenix's merge ignores it. Kept so that the state encodes back as it came.
			w.Replicas, err = d.replicaStatus(p.Value)
		case etf.Atom("pids"), etf.Atom("delta"):
			// Local to the sender: Phoenix's merge ignores them.
		default:
			return nil, bad("a state with key %v", p.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	if !seenStruct || !seenMode || !seenReplica {
		return nil, bad("a state without its struct, mode (want delta: %v) or replica", delta)
	}
	if w.Context == nil {
		w.Context = causal{}
	}
	if w.Clouds == nil {
		w.Clouds = clouds{}
	}
	return w, nil
}

// encoder writes gossip terms. MapSetVersion writes Elixir ≤ 1.14's MapSet shape (with version: 2).
type encoder struct {
	mapSetVersion bool
}

func refTerm(r replicaRef) etf.Tuple { return etf.Tuple{etf.Atom(r.Name), r.Vsn} }

func tagTerm(t tag) etf.Tuple { return etf.Tuple{refTerm(t.Replica), t.Clock} }

func contextTerm(c causal) etf.Map {
	m := make(etf.Map, 0, len(c))
	for _, r := range sortedRefs(c) {
		m = append(m, etf.Pair{Key: refTerm(r), Value: c[r]})
	}
	return m
}

// sortedRefs and sortedTags put map keys in Erlang's term order (tuples of the same size compare
// element by element, atoms by their text), which is the order term_to_binary writes small maps in:
// the encoding is then deterministic and byte-identical to Elixir's.
func sortedRefs[V any](m map[replicaRef]V) []replicaRef {
	out := make([]replicaRef, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, compareRef)
	return out
}

func sortedTags[V any](m map[tag]V) []tag {
	out := make([]tag, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, compareTag)
	return out
}

func (e encoder) mapSetTerm(c cloud) etf.Map {
	members := make(etf.Map, 0, len(c))
	for _, t := range sortedTags(c) {
		members = append(members, etf.Pair{Key: tagTerm(t), Value: []any{}})
	}
	m := etf.Map{{Key: atomStruct, Value: atomMapSetMod}, {Key: etf.Atom("map"), Value: members}}
	if e.mapSetVersion {
		m = append(m, etf.Pair{Key: etf.Atom("version"), Value: int64(2)})
	}
	return m
}

func (e encoder) cloudsTerm(cs clouds) etf.Map {
	m := make(etf.Map, 0, len(cs))
	for _, r := range sortedRefs(cs) {
		m = append(m, etf.Pair{Key: refTerm(r), Value: e.mapSetTerm(cs[r])})
	}
	return m
}

func valueTerm(v *value) etf.Tuple { return etf.Tuple{v.Pid, v.Topic, v.Key, v.Meta} }

func valuesTerm(vs map[tag]*value) etf.Map {
	m := make(etf.Map, 0, len(vs))
	for _, t := range sortedTags(vs) {
		m = append(m, etf.Pair{Key: tagTerm(t), Value: valueTerm(vs[t])})
	}
	return m
}

// stateTerm is %Phoenix.Tracker.State{} for w: a delta with its values, or a full state with values nil
// (they travel beside it).
func (e encoder) stateTerm(w *wireState) etf.Map {
	mode, values := atomNormal, any(nil)
	replicas := etf.Map{}
	if w.Delta {
		mode, values = atomDelta, valuesTerm(w.Values)
	} else {
		for _, r := range sortedRefs(w.Replicas) {
			status := atomDown
			if w.Replicas[r] {
				status = atomUp
			}
			replicas = append(replicas, etf.Pair{Key: refTerm(r), Value: status})
		}
	}
	start, end := w.RangeStart, w.RangeEnd
	if start == nil {
		start = causal{}
	}
	if end == nil {
		end = causal{}
	}
	return etf.Map{
		{Key: atomStruct, Value: atomStateMod},
		{Key: etf.Atom("clouds"), Value: e.cloudsTerm(w.Clouds)},
		{Key: etf.Atom("context"), Value: contextTerm(w.Context)},
		{Key: etf.Atom("delta"), Value: atomUnset},
		{Key: etf.Atom("mode"), Value: mode},
		{Key: etf.Atom("pids"), Value: nil},
		{Key: etf.Atom("range"), Value: etf.Tuple{contextTerm(start), contextTerm(end)}},
		{Key: etf.Atom("replica"), Value: refTerm(w.Replica)},
		{Key: etf.Atom("replicas"), Value: replicas},
		{Key: etf.Atom("values"), Value: values},
	}
}

func clocksTerm(c clockOf) etf.Tuple { return etf.Tuple{refTerm(c.Replica), contextTerm(c.Context)} }

// messageTerm is the gossip term of m.
func (e encoder) messageTerm(m *message) etf.Tuple {
	switch m.Kind {
	case msgHeartbeat:
		var st any = atomEmpty
		if m.State != nil {
			st = e.stateTerm(m.State)
		}
		return etf.Tuple{atomPub, atomHeartbeat, refTerm(m.From), st, clocksTerm(m.Clocks)}
	case msgTransferReq:
		return etf.Tuple{atomPub, atomTransferReq, m.Ref, refTerm(m.From), clocksTerm(m.Clocks)}
	case msgTransferAck:
		var payload any
		if m.State.Delta {
			payload = e.stateTerm(m.State)
		} else {
			payload = etf.Tuple{e.stateTerm(m.State), valuesTerm(m.State.Values)}
		}
		return etf.Tuple{atomPub, atomTransferAck, m.Ref, refTerm(m.From), payload}
	default:
		return etf.Tuple{atomPub, atomPermdown, refTerm(m.From)}
	}
}
