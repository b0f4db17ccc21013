package otelexporter

import (
	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/phoenixpresence"
	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// Option adds a source of counters.
type Option func(*sources)

type sources struct {
	pubsubs   []*pubsub.PubSub
	redis     []redisSource
	phoenix   []phoenixSource
	trackers  []trackerSource
	presences []presenceSource
	fastlanes []fastlaneSource

	phoenixPresences []phoenixPresenceSource
}

type redisSource struct {
	pubsub string
	a      *redisadapter.Adapter
}

type phoenixSource struct {
	pubsub string
	a      *phoenixadapter.Adapter
}

type trackerSource struct {
	pubsub, node, name string
	t                  *tracker.Tracker
}

type presenceSource struct {
	pubsub, node, name string
	p                  *presence.Presence
}

type phoenixPresenceSource struct {
	pubsub, node, name string
	t                  *phoenixpresence.Tracker
}

type fastlaneSource struct {
	pubsub, node, name string
	d                  *fastlane.Dispatcher
}

// WithPubSub exports ps.Stats(), with pubsub=ps.Name(), node=ps.NodeName().
func WithPubSub(ps *pubsub.PubSub) Option {
	return func(s *sources) { s.pubsubs = append(s.pubsubs, ps) }
}

// WithRedisAdapter exports a.Stats() and a.Routing(), with pubsub=ps.Name(), node=a.NodeName(); ps is
// the PubSub the adapter serves (an adapter does not tell its PubSub's name).
func WithRedisAdapter(ps *pubsub.PubSub, a *redisadapter.Adapter) Option {
	return func(s *sources) { s.redis = append(s.redis, redisSource{pubsub: ps.Name(), a: a}) }
}

// WithPhoenixAdapter exports a.Stats(), with pubsub=ps.Name(), node=a.NodeName() (its name among the
// Elixir nodes); ps is the PubSub the adapter serves.
func WithPhoenixAdapter(ps *pubsub.PubSub, a *phoenixadapter.Adapter) Option {
	return func(s *sources) { s.phoenix = append(s.phoenix, phoenixSource{pubsub: ps.Name(), a: a}) }
}

// WithTracker exports t.Stats(), with pubsub=ps.Name(), node=ps.NodeName(), tracker=name; ps is the
// PubSub the tracker was started on and name its tracker.Config.Name (a Tracker tells neither).
func WithTracker(ps *pubsub.PubSub, name string, t *tracker.Tracker) Option {
	return func(s *sources) {
		s.trackers = append(s.trackers, trackerSource{pubsub: ps.Name(), node: ps.NodeName(), name: name, t: t})
	}
}

// WithPresence exports p.Stats(), with pubsub=ps.Name(), node=ps.NodeName(), tracker=name; ps is the
// PubSub the presence was started on and name its Config.Tracker.Name. It does not export the counters
// of the presence's tracker: add WithTracker(ps, name, p.Tracker()) for those.
func WithPresence(ps *pubsub.PubSub, name string, p *presence.Presence) Option {
	return func(s *sources) {
		s.presences = append(s.presences, presenceSource{pubsub: ps.Name(), node: ps.NodeName(), name: name, p: p})
	}
}

// WithFastlane exports d.Stats(), with pubsub=ps.Name(), node=ps.NodeName(), dispatcher=name; ps is the
// PubSub d is registered on and name the name it is registered under (fastlane.Name in the examples).
func WithFastlane(ps *pubsub.PubSub, name string, d *fastlane.Dispatcher) Option {
	return func(s *sources) {
		s.fastlanes = append(s.fastlanes, fastlaneSource{pubsub: ps.Name(), node: ps.NodeName(), name: name, d: d})
	}
}

// WithPhoenixPresence exports t.Stats() (the experimental Presence interop), with pubsub=ps.Name(),
// node=t.NodeName() (its name among the Elixir nodes), tracker=name; ps is the PubSub t was started on
// and name its phoenixpresence.Config.Name (MyApp.Presence, say).
func WithPhoenixPresence(ps *pubsub.PubSub, name string, t *phoenixpresence.Tracker) Option {
	return func(s *sources) {
		s.phoenixPresences = append(s.phoenixPresences, phoenixPresenceSource{pubsub: ps.Name(), node: t.NodeName(), name: name, t: t})
	}
}
