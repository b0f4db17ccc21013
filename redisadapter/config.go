package redisadapter

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
)

// Defaults used when a Config field is zero.
const (
	DefaultChannelPrefix  = "phx"
	DefaultMaxMessageSize = 1 << 20 // bytes per frame, envelope included
	DefaultProbeInterval  = time.Second
	DefaultMaxBatch       = 512 // frames per pipeline
	maxNameLen            = 255
)

// Config configures an Adapter. Give either Client or URL.
type Config struct {
	// Client is a go-redis client the program already has: a *redis.Client, a *redis.ClusterClient
	// (classic PUBLISH reaches every shard), or a failover client. The adapter uses it and its pool but
	// does not close it: close it after the PubSub (a round trip that Close abandoned in a black hole
	// ends then, or at the client's ReadTimeout). Prefer MaxRetries -1 on it: go-redis retries a PUBLISH whose answer timed out,
	// which may run it twice (receivers then drop the duplicate and count it in DroppedDuplicate).
	Client redis.UniversalClient

	// URL makes the adapter build (and own, and close) its own client: redis://[user:password@]host:port/db
	// or rediss://… for TLS. Ignored when Client is set.
	URL string

	// TLSConfig overrides the TLS settings of a client built from a rediss:// URL (to trust a private CA,
	// say). Ignored when Client is set.
	TLSConfig *tls.Config

	// NodeName names this node; it must be unique among the nodes of the PubSub. Another live node with
	// the same name is detected and reported (Stats.DuplicateNodes, an Error log), but direct broadcasts
	// to that name then reach both. Default: the host name and six random hex digits.
	NodeName string

	// ChannelPrefix starts the names of the Redis channels (prefix:{pubsub name}:broadcast and
	// prefix:{pubsub name}:node:<node name>). Default DefaultChannelPrefix.
	ChannelPrefix string

	// MaxMessageSize bounds a frame (the envelope, its payload and its signature) in both directions:
	// larger broadcasts fail with ErrTooLarge, larger frames received are dropped and counted.
	// Default DefaultMaxMessageSize.
	MaxMessageSize int

	// ProbeInterval is how often the node publishes a probe to its own channel. A subscription that has
	// carried nothing for 1.5 intervals is considered dead and reconnected, so a connection that stays
	// open but carries nothing (a black hole) is replaced within two intervals. Default
	// DefaultProbeInterval; at least 10ms.
	ProbeInterval time.Duration

	// MaxBatch bounds how many frames go into one Redis pipeline. Default DefaultMaxBatch.
	MaxBatch int

	// Logger receives the adapter's events. Nil means the PubSub's logger.
	Logger *slog.Logger

	// RouteByTopic makes the adapter route broadcasts by topic (docs/operations.md, "Routing by
	// topic"): each topic maps to one of Buckets buckets, each bucket to a Redis channel of its own, and
	// a node subscribes to a bucket while any of its subscribers holds a topic in it, so that it receives
	// only (about) what its subscribers want, instead of every broadcast of the PubSub. A subscription
	// is then effective once Redis confirms its bucket: use pubsub.Subscriber.SubscribeContext to wait
	// for it. Every node of a PubSub must agree on RouteByTopic, Buckets and BroadcastPrefixes.
	RouteByTopic bool

	// Buckets is the number of buckets topics are hashed into with RouteByTopic: a power of two, at
	// most MaxBuckets. Default DefaultBuckets.
	Buckets int

	// RouteLinger is how long a node stays subscribed to a bucket after the last local subscription to
	// its topics is gone, so that a topic left and joined again (a reconnecting client) costs Redis
	// nothing. Default DefaultRouteLinger.
	RouteLinger time.Duration

	// Partitions is, with RouteByTopic and a *redis.ClusterClient, how many partitions the buckets are
	// grouped into: each partition's channels live in one hash slot (so one SSUBSCRIBE covers many
	// buckets without CROSSSLOT), and a node keeps one subscription connection per partition in use.
	// More partitions spread the load over more masters, at a connection each. At most 1024 and at most
	// Buckets. Default DefaultPartitions. Ignored without a ClusterClient.
	Partitions int

	// BroadcastPrefixes lists topic prefixes whose broadcasts reach every node even with RouteByTopic,
	// on the channel every node keeps: the tracker's gossip ("phx_presence:"), which every node running
	// a tracker holds anyway. Default DefaultBroadcastPrefixes; an empty non-nil slice means none.
	BroadcastPrefixes []string
}

// Routing defaults (Config.RouteByTopic).
const (
	// DefaultBuckets: a node holding a random eighth of 100,000 topics (12,500) subscribes to
	// 1-exp(-12500/2^18) ≈ 4.7 % of 2^18 buckets, and so receives 1/8 + 7/8 × 4.7 % ≈ 16.6 % of the
	// cluster's broadcasts; with 2^16 buckets it would be 27.7 %, with 4,096 about 96 %.
	// docs/operations.md has the arithmetic.
	DefaultBuckets = 1 << 18
	// DefaultPartitions is Config.Partitions's default: enough to spread over a dozen masters.
	DefaultPartitions = 16
	// MaxPartitions bounds Config.Partitions.
	MaxPartitions = 1024
	// MaxBuckets bounds Config.Buckets.
	MaxBuckets = 1 << 22
	// DefaultRouteLinger is Config.RouteLinger's default.
	DefaultRouteLinger = 2 * time.Second
)

// DefaultBroadcastPrefixes is Config.BroadcastPrefixes's default: the tracker's gossip topics.
var DefaultBroadcastPrefixes = []string{"phx_presence:"}

func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: redisadapter: "+format, append([]any{pubsub.ErrInvalidConfig}, args...)...)
	}
	if c.Client == nil && c.URL == "" {
		return bad("give Client or URL")
	}
	if len(c.NodeName) > maxNameLen {
		return bad("NodeName is %d bytes, more than %d", len(c.NodeName), maxNameLen)
	}
	if c.MaxMessageSize < 0 || c.MaxMessageSize > wire.MaxFrameLen {
		return bad("MaxMessageSize %d is outside 0..%d", c.MaxMessageSize, wire.MaxFrameLen)
	}
	if c.ProbeInterval != 0 && c.ProbeInterval < 10*time.Millisecond {
		return bad("ProbeInterval %v is less than 10ms", c.ProbeInterval)
	}
	if c.MaxBatch < 0 {
		return bad("MaxBatch %d is negative", c.MaxBatch)
	}
	if c.Buckets != 0 && (c.Buckets < 1 || c.Buckets > MaxBuckets || c.Buckets&(c.Buckets-1) != 0) {
		return bad("Buckets %d is not a power of two in 1..%d", c.Buckets, MaxBuckets)
	}
	if c.Partitions < 0 || c.Partitions > MaxPartitions || (c.Buckets != 0 && c.Partitions > c.Buckets) {
		return bad("Partitions %d is outside 0..%d, or more than Buckets", c.Partitions, MaxPartitions)
	}
	if c.RouteLinger < 0 {
		return bad("RouteLinger %v is negative", c.RouteLinger)
	}
	for _, p := range c.BroadcastPrefixes {
		if p == "" {
			return bad("BroadcastPrefixes holds an empty prefix, which would match every topic")
		}
	}
	if c.Buckets == 0 {
		c.Buckets = DefaultBuckets
	}
	if c.Partitions == 0 {
		c.Partitions = min(DefaultPartitions, c.Buckets)
	}
	if c.RouteLinger == 0 {
		c.RouteLinger = DefaultRouteLinger
	}
	if c.BroadcastPrefixes == nil {
		c.BroadcastPrefixes = DefaultBroadcastPrefixes
	}
	c.BroadcastPrefixes = append([]string(nil), c.BroadcastPrefixes...) // the caller's slice may change
	if c.NodeName == "" {
		c.NodeName = defaultNodeName()
	}
	if c.ChannelPrefix == "" {
		c.ChannelPrefix = DefaultChannelPrefix
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	return c, nil
}

func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [3]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// channels are the Redis channels of one PubSub.
type channels struct{ prefix string }

func newChannels(prefix, pubsubName string) channels {
	// The braces are a Redis Cluster hash tag: every channel of one PubSub maps to one slot.
	return channels{prefix: prefix + ":{" + pubsubName + "}:"}
}

func (c channels) broadcast() string       { return c.prefix + "broadcast" }
func (c channels) node(name string) string { return c.prefix + "node:" + name }

// client builds the adapter's client from c.URL, with the set of its connections (nil for a client
// the program gave, which the adapter does not own).
func (c Config) client() (redis.UniversalClient, *connSet, error) {
	if c.Client != nil {
		return c.Client, nil, nil
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: redisadapter: URL: %w", pubsub.ErrInvalidConfig, err)
	}
	if c.TLSConfig != nil {
		opt.TLSConfig = c.TLSConfig
	}
	// PUBLISH is not idempotent: a retry after a read timeout can deliver a frame twice (receivers
	// drop such duplicates by sequence number, and count them). Fail instead, and let the caller decide.
	opt.MaxRetries = -1
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 5 * time.Second // go-redis's default, which its dialer reads from opt
	}
	conns := newConnSet()
	opt.Dialer = conns.dialer(redis.NewDialer(opt))
	return redis.NewClient(opt), conns, nil
}
