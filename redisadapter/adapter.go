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
	conns      *connSet // the connections of the adapter's own client; nil with Config.Client
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

	// Routing by topic (Config.RouteByTopic): routes is set by New; rhost and table by Start, when the
	// host is a PubSub (a pubsub.RoutedHost). Without them the adapter does not route.
	routes *routes
	rhost  pubsub.RoutedHost
	table  *bucketTable
	shards *shards // with a *redis.ClusterClient: the partitions' connections (sharded pub/sub)

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
	client, conns, err := cfg.client()
	if err != nil {
		return nil, err
	}
	a := &Adapter{cfg: cfg, client: client, ownsClient: conns != nil, conns: conns, reload: newClusterReloader(client)}
	if cfg.RouteByTopic {
		a.routes = newRoutes(cfg)
	}
	return a, nil
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
	if rh, ok := host.(pubsub.RoutedHost); ok && a.routes != nil {
		a.rhost = rh
		if _, cluster := a.client.(*redis.ClusterClient); cluster {
			// Sharded pub/sub: each partition's channels in one slot, on a connection of its own.
			if err := a.checkSharded(ctx); err != nil {
				return err
			}
			a.routes.shard(a.cfg.ChannelPrefix, host.Name(), a.cfg.Partitions)
			a.shards = newShards(a)
		} else {
			a.routes.chPrefix = a.channels.routePrefix()
		}
	}

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	sub, err := a.subscribe(ctx)
	if err == nil {
		// A first probe proves that this node may PUBLISH too (an ACL user allowed to SUBSCRIBE only would
		// otherwise start, and then reconnect forever for want of its probes).
		if err = publishRouted(ctx, a.client, a.own, a.probeFrame()); err != nil {
			sub.close()
			err = fmt.Errorf("publish: %w", err)
		}
	}
	if err != nil {
		// The PubSub calls Close, which closes the client if it is ours.
		return fmt.Errorf("redisadapter: subscribe to %s: %w", a.cfg.redisLabel(), err)
	}
	var own *redis.Options // the publisher's own connection: with the adapter's own client only (pubConn)
	if a.ownsClient && ownPublishConn {
		if own, err = rawOptions(ctx, a.client, a.own); err != nil {
			sub.close()
			return fmt.Errorf("redisadapter: %s: %w", a.cfg.redisLabel(), err)
		}
	}
	a.pub = newPublisherOn(a.client, own, a.cfg.MaxBatch, &a.stats)
	a.pub.reload = a.reload // before anything can publish
	if a.rhost != nil {
		a.table = newBucketTable(a, a.rhost)
		if a.shards != nil {
			a.shards.start(a.table)
		} else {
			a.table.attach(0, sub) // the buckets' channels ride the subscription's connection
		}
	}
	a.recv = newReceiver(a, sub)
	return nil
}

// MaxFrameSize implements pubsub.FrameLimit: Config.MaxMessageSize.
func (a *Adapter) MaxFrameSize() int { return a.cfg.MaxMessageSize }

// NodeName implements pubsub.Adapter.
func (a *Adapter) NodeName() string { return a.cfg.NodeName }

// Broadcast implements pubsub.Adapter: it publishes f.Bytes on the PubSub's broadcast channel and
// returns once Redis has accepted it. Frames of one node are published in the order they are given.
// f.Bytes is copied before the call returns, never read after.
//
// ctx bounds the whole call. If it ends while the frame is queued on this node, the frame is not sent
// and the error wraps ctx.Err(). If it ends while the frame is in a pipeline that Redis has not answered
// yet, the error wraps both ctx.Err() and ErrMaybeDelivered: Redis may still publish the frame, or have
// published it, so other nodes may receive it. A failed round trip (a timeout, a broken connection) and
// a Close that abandons the pipeline also give ErrMaybeDelivered errors; an error answer from Redis,
// ErrTooLarge and the errors of a closed adapter do not (nothing was published).
//
// With Config.RouteByTopic the frame goes to the channel of its topic's bucket instead (unless the
// topic is one of Config.BroadcastPrefixes).
func (a *Adapter) Broadcast(ctx context.Context, f pubsub.Frame) error {
	if err := a.checkSize(f); err != nil {
		return err
	}
	if a.table != nil {
		if b := a.routes.route(f.Topic); b >= 0 {
			name, arg := a.routes.channel(b)
			shard := -1
			if a.shards != nil {
				shard = a.routes.partition(b)
			}
			return a.pub.publishBoxed(ctx, name, arg, shard, f.Bytes, f.Seal)
		}
	}
	return a.pub.publishBoxed(ctx, a.bcast, nil, -1, f.Bytes, f.Seal)
}

// DirectBroadcast implements pubsub.Adapter: it publishes f.Bytes on node's own channel. A node nobody
// runs receives nothing, and that is not an error. ctx and errors are as for Broadcast: an error that
// wraps ErrMaybeDelivered means node may have received the frame.
func (a *Adapter) DirectBroadcast(ctx context.Context, node string, f pubsub.Frame) error {
	if err := a.checkSize(f); err != nil {
		return err
	}
	return a.pub.publishBoxed(ctx, a.channels.node(node), nil, -1, f.Bytes, f.Seal)
}

// SealsFrames implements pubsub.FrameSealer: the publisher numbers and signs each frame as it copies
// it into the batch it sends, so that this node's frames go on the wire in the order of their numbers
// however many goroutines broadcast (see pubsub.FrameSealer).
func (a *Adapter) SealsFrames() bool { return true }

var _ pubsub.FrameSealer = (*Adapter)(nil)

func (a *Adapter) checkSize(f pubsub.Frame) error {
	n := len(f.Bytes)
	if f.Seal != nil {
		n = f.Seal.SealedLen()
	}
	if n > a.cfg.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, MaxMessageSize is %d", ErrTooLarge, n, a.cfg.MaxMessageSize)
	}
	return nil
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats { return a.stats.snapshot() }

// closeGrace is how long Close lets a pipeline in flight finish before it abandons it.
const closeGrace = 250 * time.Millisecond

// closeAbandonWait is how long Close waits, after abandoning them, for round trips blocked on a client
// given in Config.Client, which the adapter cannot break: after it, Close returns without them.
const closeAbandonWait = 250 * time.Millisecond

// Close implements pubsub.Adapter: it stops the probe, the publisher and the receive loop, and closes
// the client if the adapter made it from a URL. Broadcasts still queued fail (not sent). A pipeline in
// flight has closeGrace (250 ms) to be answered; then its broadcasts return an error wrapping
// ErrMaybeDelivered and pubsub.ErrClosed, and the adapter's own client is closed, which breaks every
// round trip still blocked, so Close returns within about 250 ms even when Redis is unreachable.
//
// A client given in Config.Client is the caller's: Close does not close it, and cannot break a round
// trip blocked on it (a black hole). Close waits for such a round trip closeAbandonWait (250 ms) more,
// then returns anyway, within about 500 ms: the publisher's goroutine, which holds no Host and calls
// none, returns when that round trip ends, which is when go-redis times it out (the client's
// ReadTimeout or WriteTimeout, 5 s by default) or when the caller closes the client.
func (a *Adapter) Close() error {
	a.closeOnce.Do(func() {
		if !a.started.Load() || a.recv == nil {
			if a.ownsClient {
				a.closeErr = a.client.Close()
			}
			return
		}
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			a.recv.close()
			if a.shards != nil {
				a.shards.close()
			}
			if a.table != nil {
				a.table.close() // its command in flight, if any, failed with the subscription's close
			}
		}()
		a.pub.stop()
		// Round trips in flight (the publisher's pipeline, a resubscription) have the grace to end.
		grace, cancel := context.WithTimeout(context.Background(), closeGrace)
		defer cancel()
		select {
		case <-a.pub.stopped:
		case <-grace.Done():
		}
		select {
		case <-recvDone:
		case <-grace.Done():
		}
		// Then they are abandoned: the broadcasts in flight return, and closing the client and every
		// connection it has open breaks the round trips (see connSet). The receiver is closing by now,
		// so it takes the failure for the close.
		a.pub.abandon()
		<-a.recv.closing
		if a.ownsClient {
			a.closeErr = a.client.Close()
			a.conns.closeAll()
			<-a.pub.stopped
		} else {
			// The caller's client: a round trip blocked on it ends when go-redis times it out, or when
			// the caller closes the client. Close does not wait for that.
			t := time.NewTimer(closeAbandonWait)
			select {
			case <-a.pub.stopped:
			case <-t.C:
				a.log.Warn("redisadapter: closed with a round trip still blocked on Config.Client; it ends with the client's timeout or its Close")
			}
			t.Stop()
		}
		<-recvDone
	})
	return a.closeErr
}

// subscribe opens a subscription to the two channels and waits until Redis confirms both. Messages that
// arrive on the first channel before the second is confirmed are handled.
func (a *Adapter) subscribe(ctx context.Context) (subscription, error) {
	sub, err := a.openSubscription(ctx, a.bcast, a.own)
	if err != nil {
		return nil, err
	}
	for confirmed := 0; confirmed < 2; {
		ev, err := sub.receive()
		if err != nil {
			sub.close()
			return nil, err
		}
		if ev.kind == evSubscribed {
			confirmed++
		} else {
			a.handleEvent(ev)
		}
	}
	if err := sub.ready(ctx); err != nil {
		sub.close()
		return nil, err
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
