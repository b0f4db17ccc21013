package pubsub

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// PubSub is Phoenix.PubSub for Go: subscribers on this node receive what is broadcast on any node of
// the PubSub. Make one with New; every method is safe for concurrent use.
type PubSub struct {
	name        string
	nodeName    string
	incarnation [16]byte
	cfg         Config
	log         *slog.Logger

	adapter Adapter // nil without one
	remote  bool    // the adapter has other nodes: encode and send frames

	registry *registry
	slow     *slowReporter
	nextID   atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	subsMu sync.Mutex
	subs   map[*Subscriber]struct{} // live subscribers, closed by Close
}

// New starts a PubSub. It validates cfg (errors wrap ErrInvalidConfig) and starts the adapter; the
// PubSub owns the adapter from then on, and closes it when New fails after starting it, and in Close.
func New(cfg Config) (*PubSub, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ps := &PubSub{
		name:        cfg.Name,
		nodeName:    cfg.NodeName,
		incarnation: uuid.New(),
		cfg:         cfg,
		log:         cfg.Logger,
		adapter:     cfg.Adapter,
		registry:    newRegistry(cfg.PoolSize),
		subs:        make(map[*Subscriber]struct{}),
	}
	ps.slow = newSlowReporter(cfg)
	if a := cfg.Adapter; a != nil {
		// Everything the adapter's goroutines may read is set before Start.
		ps.nodeName = a.NodeName()
		lo, ok := a.(LocalOnly)
		ps.remote = !ok || !lo.LocalOnly()
		if err := a.Start(host{ps}); err != nil {
			ps.slow.stop()
			return nil, fmt.Errorf("pubsub: start adapter: %w", err)
		}
	}
	return ps, nil
}

// Name returns Config.Name.
func (ps *PubSub) Name() string { return ps.name }

// NodeName returns the name of this node: the adapter's, or Config.NodeName without an adapter.
func (ps *PubSub) NodeName() string { return ps.nodeName }

// NewSubscriber returns a new Subscriber with an empty mailbox of Config.MailboxSize (or the size set by
// WithMailboxSize). After Close it returns a subscriber that is already closed (its calls return
// ErrClosed).
func (ps *PubSub) NewSubscriber(opts ...SubscriberOption) *Subscriber {
	s := &Subscriber{ps: ps, id: ps.nextID.Add(1), policy: ps.cfg.Overflow, topics: make(map[string]*slot)}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	if s.ch == nil {
		s.ch = make(chan Message, ps.cfg.MailboxSize)
	}
	ps.subsMu.Lock()
	if ps.closed.Load() {
		ps.subsMu.Unlock()
		s.close(ErrClosed)
		return s
	}
	ps.subs[s] = struct{}{}
	ps.subsMu.Unlock()
	return s
}

// forget drops a closed subscriber from the live set.
func (ps *PubSub) forget(s *Subscriber) {
	ps.subsMu.Lock()
	delete(ps.subs, s)
	ps.subsMu.Unlock()
}

// Close closes the adapter (this node leaves the PubSub), closes every subscriber (their mailboxes close
// and their calls return ErrClosed), and stops every goroutine the PubSub started. It returns the
// adapter's Close error. Close is idempotent: later calls return the first call's result. Every other
// call on the PubSub returns ErrClosed afterwards.
func (ps *PubSub) Close() error {
	ps.closeOnce.Do(func() {
		ps.subsMu.Lock()
		ps.closed.Store(true)
		subs := make([]*Subscriber, 0, len(ps.subs))
		for s := range ps.subs {
			subs = append(subs, s)
		}
		ps.subsMu.Unlock()
		if ps.adapter != nil {
			if err := ps.adapter.Close(); err != nil {
				ps.closeErr = fmt.Errorf("pubsub: close adapter: %w", err)
			}
		}
		for _, s := range subs {
			s.close(ErrClosed)
		}
		ps.slow.stop()
	})
	return ps.closeErr
}

// host is the PubSub as its adapter sees it.
type host struct{ ps *PubSub }

func (h host) Name() string           { return h.ps.name }
func (h host) Incarnation() [16]byte  { return h.ps.incarnation }
func (h host) Logger() *slog.Logger   { return h.ps.log }
func (h host) HandleGap(reason error) { h.ps.handleGap(reason) }
func (h host) HandleFrame(frame string) error {
	if h.ps.closed.Load() {
		return ErrClosed
	}
	return h.ps.handleFrame(frame)
}
