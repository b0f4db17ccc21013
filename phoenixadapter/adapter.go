package phoenixadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/internal/ratelog"
)

// Adapter is a pubsub.Adapter (a pubsub.MessageCarrier) that speaks phoenix_pubsub_redis 3.x, so that
// a Go PubSub is one more node of an Elixir application's Phoenix.PubSub. Make one with New and give it
// to pubsub.New as Config.Adapter; the PubSub owns it from then on.
type Adapter struct {
	cfg    Config
	client redis.UniversalClient
	own    bool // the adapter built client and closes it

	enc      etf.Encoder
	atoms    map[Atom]struct{}
	nodeAtom etf.Raw
	dispOut  map[string]etf.Raw // Go dispatcher name → encoded module atom
	dispIn   map[Atom]string    // module atom → Go dispatcher name

	started atomic.Bool
	closed  atomic.Bool
	host    pubsub.Host
	channel string
	log     *slog.Logger
	rlog    *ratelog.Log
	sub     *redis.PubSub
	pub     *publisher

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	stats stats
}

var (
	_ pubsub.MessageCarrier = (*Adapter)(nil)
	_ pubsub.FrameLimit     = (*Adapter)(nil)
)

// The encoded atoms of the frame itself, the same in every frame.
var (
	rawExcept        = mustAtom("except")
	rawOnly          = mustAtom("only")
	rawPubSub        = mustAtom(PubSubDispatcher)
	rawChannelServer = mustAtom(ChannelServerDispatcher)
	rawStruct        = mustAtom("__struct__")
	rawBroadcast     = mustAtom("Elixir.Phoenix.Socket.Broadcast")
	rawTopic         = mustAtom("topic")
	rawEvent         = mustAtom("event")
	rawPayload       = mustAtom("payload")
	rawGoPayload     = mustAtom(goPayloadTag)
)

// goPayloadTag tags Go values carried opaquely (Config.GoPayloads).
const goPayloadTag = "phxgo_payload"

func mustAtom(a string) etf.Raw {
	b, err := etf.AppendAtom(nil, Atom(a), false)
	if err != nil {
		panic(err)
	}
	return b
}

// New returns an adapter configured by cfg; it does no I/O (pubsub.New starts it). It returns an error
// wrapping pubsub.ErrInvalidConfig for a bad Config.
func New(cfg Config) (*Adapter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Adapter{
		cfg:     cfg,
		atoms:   make(map[Atom]struct{}, len(cfg.Atoms)),
		dispOut: map[string]etf.Raw{},
		dispIn:  map[Atom]string{PubSubDispatcher: "", ChannelServerDispatcher: ""},
	}
	for _, x := range cfg.Atoms {
		a.atoms[Atom(x)] = struct{}{}
	}
	a.enc = etf.Encoder{
		Compression: cfg.Compression,
		AllowAtom: func(x Atom) bool {
			_, ok := a.atoms[x]
			return ok
		},
	}
	if a.nodeAtom, err = etf.AppendAtom(nil, Atom(cfg.NodeName), false); err != nil {
		return nil, fmt.Errorf("%w: phoenixadapter: NodeName: %w", pubsub.ErrInvalidConfig, err)
	}
	for name, mod := range cfg.Dispatchers {
		m := moduleName(mod)
		if a.dispOut[name], err = etf.AppendAtom(nil, Atom(m), false); err != nil {
			return nil, fmt.Errorf("%w: phoenixadapter: Dispatchers[%q]: %w", pubsub.ErrInvalidConfig, name, err)
		}
		a.dispIn[Atom(m)] = name
	}
	if cfg.Client != nil {
		a.client = cfg.Client
		return a, nil
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: phoenixadapter: URL: %w", pubsub.ErrInvalidConfig, err)
	}
	// PUBLISH is not idempotent and this protocol has no sequence numbers to drop a duplicate with:
	// fail instead of retrying, and let the caller decide.
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	a.client, a.own = redis.NewClient(opt), true
	return a, nil
}

// NodeName returns Config.NodeName (or the name New chose): this node's name, an atom on the Elixir
// side.
func (a *Adapter) NodeName() string { return a.cfg.NodeName }

// CarriesMessages reports true: the adapter sends messages in phoenix_pubsub_redis's format, not the
// PubSub's frames (see "Adapters that carry messages" in pubsub.Adapter's documentation).
func (a *Adapter) CarriesMessages() bool { return true }

// MaxFrameSize returns Config.MaxMessageSize.
func (a *Adapter) MaxFrameSize() int { return a.cfg.MaxMessageSize }

// Channel returns the Redis channel the adapter uses; "" before Start when Config.PubSubName was not
// given.
func (a *Adapter) Channel() string {
	if a.cfg.PubSubName == "" && !a.started.Load() {
		return ""
	}
	return a.channelName()
}

func (a *Adapter) channelName() string {
	if a.channel != "" {
		return a.channel
	}
	return ChannelName(a.cfg.PubSubName)
}

// Start subscribes to the PubSub's channel and returns once Redis has confirmed the subscription, or
// ctx ends. It is called by pubsub.New.
func (a *Adapter) Start(ctx context.Context, host pubsub.Host) error {
	if !a.started.CompareAndSwap(false, true) {
		return fmt.Errorf("phoenixadapter: %w", pubsub.ErrAdapterInUse)
	}
	if a.closed.Load() {
		return fmt.Errorf("phoenixadapter: %w", pubsub.ErrClosed)
	}
	a.host = host
	if a.cfg.PubSubName == "" {
		a.cfg.PubSubName = host.Name()
		if err := validAtom(moduleName(a.cfg.PubSubName)); err != nil {
			return fmt.Errorf("%w: phoenixadapter: the PubSub's name as PubSubName: %v", pubsub.ErrInvalidConfig, err)
		}
	}
	a.channel = ChannelName(a.cfg.PubSubName)
	a.log = a.cfg.Logger
	if a.log == nil {
		a.log = host.Logger()
	}
	a.rlog = ratelog.New(a.log, 10*time.Second)

	a.sub = a.client.Subscribe(ctx, a.channel)
	if err := a.awaitSubscription(ctx); err != nil {
		return fmt.Errorf("phoenixadapter: subscribe to %s: %w", a.channel, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.pub = newPublisher(a.client, a.channel, &a.stats)
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.pub.run(runCtx) }()
	go func() { defer a.wg.Done(); a.receive(runCtx) }()
	go func() { defer a.wg.Done(); a.probe(runCtx) }()
	return nil
}

// awaitSubscription waits for Redis's confirmation of the subscription.
func (a *Adapter) awaitSubscription(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	for {
		msg, err := a.sub.Receive(ctx)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				return nil
			}
		case *redis.Message:
			a.handle(m.Payload) // published right after our SUBSCRIBE reached Redis
		}
	}
}

// Close stops the adapter's goroutines, unsubscribes, and closes the client if the adapter built it.
// Broadcasts after Close fail with pubsub.ErrClosed. It is called by the PubSub.
func (a *Adapter) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		if a.cancel != nil {
			a.cancel()
		}
		var errs []error
		if a.sub != nil {
			if err := a.sub.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
				errs = append(errs, err)
			}
		}
		a.wg.Wait()
		if a.own {
			if err := a.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
				errs = append(errs, err)
			}
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
