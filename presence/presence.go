package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/ratelog"
	"github.com/phxgo/pubsub/tracker"
)

// Event is the name Phoenix gives the message a Diff travels in: clients of Phoenix's channels receive
// {"event": "presence_diff", "payload": {"joins": ..., "leaves": ...}}. A Diff payload is that event; an
// Encoder that writes Phoenix's frames (see package fastlane) names it so.
const Event = "presence_diff"

// ErrInvalidConfig is returned (wrapped) by New for a configuration it cannot use; New also returns the
// tracker's own tracker.ErrInvalidConfig errors.
var ErrInvalidConfig = errors.New("presence: invalid config")

// Config configures a Presence.
type Config struct {
	// Tracker configures the tracker Presence runs on: Name (required), PoolSize and timings, as for
	// tracker.New; every node must use the same Name and PoolSize. Its Handler, if any, is called with
	// each of the tracker's diffs after Presence has delivered them to the topics' subscribers.
	Tracker tracker.Config

	// Dispatcher is the name of the dispatcher diffs are delivered with (pubsub.WithDispatcher), as
	// registered in the PubSub's Config.Dispatchers: fastlane.Name, say, so that each diff is encoded
	// once per node and written to every connection. "": the PubSub's default dispatcher (each
	// subscriber's mailbox). A name the PubSub does not know is an ErrInvalidConfig from New.
	Dispatcher string

	// Fetch, when set, is Phoenix's fetch/2: it receives a topic and presences grouped by key (a List's
	// or GetByKey's result, or a diff's joins or leaves), and returns what to list or deliver instead,
	// typically the same entries with Fields added (a user's name looked up by key). It is called once
	// per List and GetByKey (on the caller's goroutine), and once for the joins and once for the leaves
	// of each diff of each topic (on the tracker's handler goroutine, in order): once per node, not once
	// per client. It must not modify the meta maps (copy them to change them), and should be quick: a
	// slow Fetch delays the diffs after it. A panic in Fetch while delivering a diff is recovered: that
	// topic's diff is not delivered, and the panic is counted in Stats.DeliveryErrors and logged.
	Fetch func(topic string, presences Presences) Presences
}

// Presence is Phoenix.Presence: a tracker whose presences are listed grouped by key, and whose changes
// reach each local subscriber of their topic once, as Diff messages. Make one with New, one per node
// (with the same Config.Tracker.Name on every node). Every method is safe for concurrent use.
type Presence struct {
	ps      *pubsub.PubSub
	t       *tracker.Tracker
	fetch   func(string, Presences) Presences
	opts    []pubsub.BroadcastOption
	handler tracker.Handler
	log     *slog.Logger
	rlog    *ratelog.Log

	delivered, deliveryErrors atomic.Uint64
}

// Stats are a Presence's counters since New.
type Stats struct {
	// Delivered counts diffs delivered: one per topic of each tracker diff, whatever the number of
	// subscribers (none included).
	Delivered uint64
	// DeliveryErrors counts diffs not delivered: the PubSub refused the local broadcast (a closed PubSub
	// is not counted), or Fetch panicked.
	DeliveryErrors uint64
}

// New starts a Presence on ps: a tracker made with cfg.Tracker (see tracker.New), whose diffs Presence
// delivers. It returns the tracker's errors (tracker.ErrInvalidConfig) and ErrInvalidConfig.
func New(ps *pubsub.PubSub, cfg Config) (*Presence, error) {
	if ps == nil {
		return nil, fmt.Errorf("%w: nil PubSub", ErrInvalidConfig)
	}
	if !ps.HasDispatcher(cfg.Dispatcher) {
		return nil, fmt.Errorf("%w: Dispatcher %q is not one of the PubSub's Config.Dispatchers", ErrInvalidConfig, cfg.Dispatcher)
	}
	tcfg, err := cfg.Tracker.Resolve()
	if err != nil {
		return nil, err
	}
	p := &Presence{ps: ps, fetch: cfg.Fetch, handler: cfg.Tracker.Handler}
	p.log = tcfg.Logger.With(slog.String("presence", tcfg.Name), slog.String("node", ps.NodeName()))
	p.rlog = ratelog.New(p.log, 10*time.Second)
	if cfg.Dispatcher != "" {
		p.opts = []pubsub.BroadcastOption{pubsub.WithDispatcher(cfg.Dispatcher)}
	}
	tc := cfg.Tracker
	tc.Handler = tracker.HandlerFunc(p.handleDiff)
	if p.t, err = tracker.New(ps, tc); err != nil {
		return nil, err
	}
	return p, nil
}

// Tracker returns the tracker Presence runs on, for its Stats, UntrackAll or UpdateFunc. Its presences
// are Presence's: what it tracks is listed and delivered like the rest.
func (p *Presence) Tracker() *tracker.Tracker { return p.t }

// Track tracks a presence of owner under key in topic, with meta, and returns its ref (the meta's
// "phx_ref"): tracker.Tracker.Track. Every subscriber of topic, on every node, receives a Diff with the
// join. The presence ends when owner is done (a *pubsub.Subscriber that closes: a connection that ends)
// or at Untrack.
func (p *Presence) Track(owner tracker.Owner, topic, key string, meta map[string]any) (string, error) {
	return p.t.Track(owner, topic, key, meta)
}

// Untrack removes owner's presence under key in topic: tracker.Tracker.Untrack.
func (p *Presence) Untrack(owner tracker.Owner, topic, key string) error {
	return p.t.Untrack(owner, topic, key)
}

// Update replaces the meta of owner's presence under key in topic, and returns the new ref:
// tracker.Tracker.Update. Subscribers receive one Diff with the old meta in Leaves and the new one in
// Joins, whose "phx_ref_prev" is the old "phx_ref".
func (p *Presence) Update(owner tracker.Owner, topic, key string, meta map[string]any) (string, error) {
	return p.t.Update(owner, topic, key, meta)
}

// List returns topic's presences on every node that is up, grouped by key (then passed through
// Config.Fetch): what a client needs on join (presence_state). It never waits for the tracker's merges.
// An empty topic gives an empty, non-nil Presences (unless Fetch returns nil).
func (p *Presence) List(topic string) Presences {
	ps := group(p.t.List(topic))
	if ps == nil {
		ps = Presences{}
	}
	if p.fetch != nil {
		ps = p.fetch(topic, ps)
	}
	return ps
}

// GetByKey returns the entry of key in topic (its metas, one per owner on any node, then passed through
// Config.Fetch), and false when nothing is tracked under key.
func (p *Presence) GetByKey(topic, key string) (Entry, bool) {
	ps := group(p.t.GetByKey(topic, key))
	if ps == nil {
		return Entry{}, false
	}
	if p.fetch != nil {
		ps = p.fetch(topic, ps)
	}
	e, ok := ps[key]
	return e, ok
}

// Stats returns the Presence's counters (the tracker's are in Tracker().Stats()).
func (p *Presence) Stats() Stats {
	return Stats{Delivered: p.delivered.Load(), DeliveryErrors: p.deliveryErrors.Load()}
}

// GracefulPermdown tells every other node that this one leaves, so that its presences leave there at
// once, then closes: tracker.Tracker.GracefulPermdown. Call it before closing the PubSub.
func (p *Presence) GracefulPermdown(ctx context.Context) error { return p.t.GracefulPermdown(ctx) }

// Close stops the Presence like a crash (other nodes see its presences leave after the tracker's
// DownPeriod): tracker.Tracker.Close. Diffs not yet delivered are dropped.
func (p *Presence) Close() error { return p.t.Close() }
