package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/phxgo/pubsub/internal/ratelog"
)

// PubSub is Phoenix.PubSub for Go: subscribers on this node receive what is broadcast on any node of
// the PubSub. Make one with New; every method is safe for concurrent use.
type PubSub struct {
	name        string
	nodeName    string
	incarnation [16]byte
	cfg         Config
	log         *slog.Logger

	adapter     Adapter     // nil without one
	router      TopicRouter // the adapter, when it routes broadcasts by topic; else nil
	remote      bool        // the adapter has other nodes: send them broadcasts
	carrier     bool        // the adapter carries messages, not frames (MessageCarrier)
	sealer      bool        // the adapter numbers and signs frames as it sends them (FrameSealer)
	signingKey  []byte      // Config.Secrets[0], or nil
	maxFrame    int         // the adapter's FrameLimit, or 0
	startedMs   int64       // Unix milliseconds at New: signed frames sent before are not owed to this node
	out         *outStreams
	in          inStreams
	stats       counters
	rlog        *ratelog.Log
	warnedTypes sync.Map      // reflect.Type → struct{}: unregistered payload types warned about (warnUnregistered)
	clock       atomic.Int64  // Unix nanoseconds, set by the sweeper every sweepInterval (coarseNow)
	stopSweep   chan struct{} // closed by Close; nil without a remote adapter
	sweepDone   chan struct{}

	registry *registry
	slow     *slowReporter
	nextID   atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed by Close

	subsMu sync.Mutex
	subs   map[*Subscriber]struct{} // live subscribers, closed by Close

	watchers closeWatcherSlots // CloseWatchers (closewatch.go)
}

// New starts a PubSub. It validates cfg (errors wrap ErrInvalidConfig) and starts the adapter, which
// may connect to its transport: ctx bounds that. The PubSub owns cfg.Adapter from the moment New is
// called: when New fails, for a bad config or a failed start, it has closed the adapter; otherwise
// Close closes it. (An adapter that already serves another PubSub is the exception: its Start fails
// with ErrAdapterInUse, and New leaves it alone.)
func New(ctx context.Context, cfg Config) (*PubSub, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		if cfg.Adapter != nil {
			err = errors.Join(err, cfg.Adapter.Close())
		}
		return nil, err
	}
	now := time.Now()
	ps := &PubSub{
		name:        cfg.Name,
		nodeName:    cfg.NodeName,
		incarnation: uuid.New(),
		cfg:         cfg,
		log:         cfg.Logger,
		adapter:     cfg.Adapter,
		registry:    newRegistry(cfg.PoolSize),
		subs:        make(map[*Subscriber]struct{}),
		done:        make(chan struct{}),
		startedMs:   now.UnixMilli(),
		out:         newOutStreams(now),
		in:          inStreams{m: make(map[streamKey]*inStream)},
		rlog:        ratelog.New(cfg.Logger, 10*time.Second),
	}
	if len(cfg.Secrets) > 0 {
		ps.signingKey = cfg.Secrets[0]
	}
	ps.clock.Store(now.UnixNano())
	if a := cfg.Adapter; a != nil {
		// Everything the adapter's goroutines may read is set before Start.
		ps.nodeName = a.NodeName()
		lo, ok := a.(LocalOnly)
		ps.remote = !ok || !lo.LocalOnly()
		if fl, ok := a.(FrameLimit); ok {
			ps.maxFrame = fl.MaxFrameSize()
		}
		mc, ok := a.(MessageCarrier)
		ps.carrier = ok && mc.CarriesMessages()
		fs, ok := a.(FrameSealer)
		ps.sealer = ok && fs.SealsFrames() && !ps.carrier
		if tr, ok := a.(TopicRouter); ok && ps.remote && !ps.carrier && tr.Routes() > 0 {
			ps.router, ps.registry.router = tr, tr
		}
		if ps.carrier && len(cfg.Secrets) > 0 {
			err := fmt.Errorf("%w: Secrets: adapter %T carries messages in its own format, which cannot be signed", ErrInvalidConfig, a)
			return nil, errors.Join(err, a.Close())
		}
	}
	ps.slow = newSlowReporter(cfg)
	if ps.remote && !ps.carrier {
		ps.stopSweep, ps.sweepDone = make(chan struct{}), make(chan struct{})
		go ps.sweeper(ps.stopSweep, ps.sweepDone)
	}
	if a := cfg.Adapter; a != nil {
		if err := a.Start(ctx, host{ps}); err != nil {
			ps.stopBackground()
			if !errors.Is(err, ErrAdapterInUse) { // another PubSub's adapter is not ours to close
				err = errors.Join(err, a.Close())
			}
			return nil, fmt.Errorf("pubsub: start adapter: %w", err)
		}
	}
	return ps, nil
}

// stopBackground stops the PubSub's own goroutines.
func (ps *PubSub) stopBackground() {
	ps.slow.stop()
	if ps.stopSweep != nil {
		close(ps.stopSweep)
		<-ps.sweepDone
	}
}

// Name returns Config.Name.
func (ps *PubSub) Name() string { return ps.name }

// NodeName returns the name of this node: the adapter's, or Config.NodeName without an adapter.
func (ps *PubSub) NodeName() string { return ps.nodeName }

// NewSubscriber returns a new Subscriber with an empty mailbox bounded to Config.MailboxSize messages,
// with Config.Overflow's policy, or what opts set (WithHandler has it call a function instead of
// queueing for C). It returns ErrClosed after Close, and an error wrapping
// ErrInvalidConfig for an invalid option (a size below 1, an unknown policy).
func (ps *PubSub) NewSubscriber(opts ...MailboxOption) (*Subscriber, error) {
	size, policy := ps.cfg.MailboxSize, ps.cfg.Overflow
	var handler func(Message)
	prealloc, preallocSet := chanSize, false
	for _, opt := range opts {
		if opt.hasSize {
			if opt.size < 1 {
				return nil, fmt.Errorf("%w: WithMailboxSize(%d): a mailbox holds at least 1 message", ErrInvalidConfig, opt.size)
			}
			size = opt.size
		}
		if opt.hasPolicy {
			if err := opt.policy.validate(); err != nil {
				return nil, fmt.Errorf("WithOverflow: %w", err)
			}
			policy = opt.policy
		}
		if opt.hasPrealloc {
			if opt.prealloc < 1 {
				return nil, fmt.Errorf("%w: WithPrealloc(%d): at least 1 message", ErrInvalidConfig, opt.prealloc)
			}
			prealloc, preallocSet = opt.prealloc, true
		}
		if opt.hasHandler {
			if opt.handler == nil {
				return nil, fmt.Errorf("%w: WithHandler(nil)", ErrInvalidConfig)
			}
			handler = opt.handler
		}
	}
	if size > maxMailboxSize {
		return nil, fmt.Errorf("%w: MailboxSize %d: a mailbox holds at most %d messages", ErrInvalidConfig, size, maxMailboxSize)
	}
	s := &Subscriber{ps: ps, id: ps.nextID.Add(1), policy: uint8(policy), bound: int32(size)}
	switch {
	case handler != nil && preallocSet:
		return nil, fmt.Errorf("%w: WithPrealloc and WithHandler: a subscriber with a handler has no channel", ErrInvalidConfig)
	case handler != nil:
		s.hooks = &hooks{handler: handler}
	default:
		s.ch = make(chan Message, min(size, prealloc))
	}
	ps.subsMu.Lock()
	defer ps.subsMu.Unlock()
	if ps.closed.Load() {
		return nil, ErrClosed
	}
	ps.subs[s] = struct{}{}
	return s, nil
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
		close(ps.done)
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
		ps.stopBackground()
	})
	return ps.closeErr
}

// Done returns a channel that is closed when Close begins: the PubSub's end, for what is built on it
// (the tracker follows its PubSub with it). Close itself returns once everything has stopped.
func (ps *PubSub) Done() <-chan struct{} { return ps.done }

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
func (h host) HandleMessage(m RemoteMessage) error {
	if h.ps.closed.Load() {
		return ErrClosed
	}
	return h.ps.handleMessage(m)
}
