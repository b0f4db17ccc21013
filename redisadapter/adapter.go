package redisadapter

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/ratelog"
)

// startTimeout bounds Start: the first subscription must be confirmed within it.
const startTimeout = 10 * time.Second

// Adapter is a pubsub.Adapter over Redis PUBLISH/SUBSCRIBE. Make one with New and pass it in
// pubsub.Config.Adapter; the PubSub starts and closes it. An Adapter serves one PubSub.
type Adapter struct {
	cfg        Config
	client     redis.UniversalClient
	ownsClient bool
	stats      counters
	log        *slog.Logger
	rlog       *ratelog.Log
	started    atomic.Bool
	reload     *clusterReloader // refreshes a ClusterClient's slot map after failures

	// Set by Start.
	host        pubsub.Host
	incarnation [16]byte
	channels    channels
	bcast, own  string // this PubSub's broadcast channel and this node's channel
	pub         *publisher
	recv        *receiver

	closeOnce sync.Once
	closeErr  error
}

// New returns an adapter for cfg. It checks cfg (errors wrap pubsub.ErrInvalidConfig) and builds the
// client for cfg.URL, but does not connect: the PubSub's New does, through Start.
func New(cfg Config) (*Adapter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	client, owns, err := cfg.client()
	if err != nil {
		return nil, err
	}
	return &Adapter{cfg: cfg, client: client, ownsClient: owns, reload: newClusterReloader(client)}, nil
}

// Start implements pubsub.Adapter: it subscribes to the PubSub's broadcast channel and this node's
// channel, waits for Redis to confirm both and for a first probe to be published (or fails, within ctx
// and at most 10 s), and starts the publisher, the receive loop and the probe.
func (a *Adapter) Start(ctx context.Context, host pubsub.Host) error {
	if !a.started.CompareAndSwap(false, true) {
		return fmt.Errorf("redisadapter: %w", pubsub.ErrAdapterInUse)
	}
	a.host = host
	a.incarnation = host.Incarnation()
	a.log = a.cfg.Logger
	if a.log == nil {
		a.log = host.Logger()
	}
	a.log = a.log.With(slog.String("pubsub", host.Name()), slog.String("node", a.cfg.NodeName))
	a.rlog = ratelog.New(a.log, 10*time.Second)
	a.channels = newChannels(a.cfg.ChannelPrefix, host.Name())
	a.bcast, a.own = a.channels.broadcast(), a.channels.node(a.cfg.NodeName)

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	sub, err := a.subscribe(ctx)
	if err == nil {
		// A first probe proves that this node may PUBLISH too (an ACL user allowed to SUBSCRIBE only would
		// otherwise start, and then reconnect forever for want of its probes).
		if err = publishRouted(ctx, a.client, a.own, a.probeFrame()); err != nil {
			sub.Close()
			err = fmt.Errorf("publish: %w", err)
		}
	}
	if err != nil {
		// The PubSub calls Close, which closes the client if it is ours.
		return fmt.Errorf("redisadapter: subscribe to %s: %w", a.cfg.redisLabel(), err)
	}
	a.pub = newPublisher(a.client, a.cfg.MaxBatch, &a.stats)
	a.pub.reload = a.reload // before anything can publish
	a.recv = newReceiver(a, sub)
	return nil
}

// NodeName implements pubsub.Adapter.
func (a *Adapter) NodeName() string { return a.cfg.NodeName }

// Broadcast implements pubsub.Adapter: it publishes f.Bytes on the PubSub's broadcast channel and
// returns once Redis has accepted it. Frames of one node are published in the order they are given. ctx
// ends the wait while the frame is queued; once its pipeline is sent, Broadcast waits for Redis's
// answer (at most go-redis's read timeout), since the frame may already have been published.
func (a *Adapter) Broadcast(ctx context.Context, f pubsub.Frame) error {
	if err := a.checkSize(f.Bytes); err != nil {
		return err
	}
	return a.pub.publish(ctx, a.bcast, f.Bytes)
}

// DirectBroadcast implements pubsub.Adapter: it publishes f.Bytes on node's own channel. A node nobody
// runs receives nothing, and that is not an error.
func (a *Adapter) DirectBroadcast(ctx context.Context, node string, f pubsub.Frame) error {
	if err := a.checkSize(f.Bytes); err != nil {
		return err
	}
	return a.pub.publish(ctx, a.channels.node(node), f.Bytes)
}

func (a *Adapter) checkSize(frame []byte) error {
	if len(frame) > a.cfg.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, MaxMessageSize is %d", ErrTooLarge, len(frame), a.cfg.MaxMessageSize)
	}
	return nil
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats { return a.stats.snapshot() }

// Close implements pubsub.Adapter: it stops the probe, the publisher (broadcasts still queued fail) and
// the receive loop, and closes the client if the adapter made it from a URL.
func (a *Adapter) Close() error {
	a.closeOnce.Do(func() {
		if !a.started.Load() {
			if a.ownsClient {
				a.closeErr = a.client.Close()
			}
			return
		}
		if a.recv != nil {
			a.recv.close()
			a.pub.close()
		}
		if a.ownsClient {
			a.closeErr = a.client.Close()
		}
	})
	return a.closeErr
}

// subscribe opens a subscription to the two channels and waits until Redis confirms both. Messages that
// arrive on the first channel before the second is confirmed are handled.
func (a *Adapter) subscribe(ctx context.Context) (*redis.PubSub, error) {
	sub := a.client.Subscribe(ctx)
	if err := sub.Subscribe(ctx, a.bcast, a.own); err != nil {
		sub.Close()
		return nil, err
	}
	confirmed := 0
	for confirmed < 2 {
		msg, err := sub.Receive(ctx)
		if err != nil {
			sub.Close()
			return nil, err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				confirmed++
			}
		case *redis.Message:
			a.handle(m.Channel, m.Payload)
		}
	}
	return sub, nil
}

// redisLabel names the Redis the adapter talks to, for errors and logs (never the password).
func (c Config) redisLabel() string {
	if c.Client != nil {
		return "the given client"
	}
	if opt, err := redis.ParseURL(c.URL); err == nil {
		return opt.Addr
	}
	return "redis"
}
