package tracker

import (
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Defaults: Phoenix.Tracker's.
const (
	DefaultBroadcastPeriod    = 1500 * time.Millisecond
	DefaultMaxSilentPeriods   = 10
	DefaultPermdownPeriod     = 20 * time.Minute
	DefaultClockSamplePeriods = 2
	DefaultPoolSize           = 1

	// DefaultMaxGossipSize is the largest gossip message sent whole; larger ones travel in chunks. It
	// leaves room under the Redis adapter's MaxMessageSize (1 MiB) and the PubSub's frame limit.
	DefaultMaxGossipSize = 256 << 10
	// DefaultTransferWindow is how many bytes of one transfer may be in flight (sent and not yet merged by
	// its receiver): 1 MiB, 4 chunks of the default MaxGossipSize, enough to keep a receiver merging while
	// its credit travels back.
	DefaultTransferWindow = 1 << 20
	// DefaultReceiveWindow is how many bytes of transfers may be in flight towards a node, over all its
	// incoming transfers: 4 MiB keeps the node's subscriber far under Redis's pubsub output-buffer limits
	// (client-output-buffer-limit pubsub 32mb 8mb 60), so Redis never disconnects it for a transfer, and
	// keeps what a sender's heartbeats may wait behind in its publish pipeline short.
	DefaultReceiveWindow = 4 << 20
	// DefaultMaxTransferSize bounds a transfer a shard accepts from a peer.
	DefaultMaxTransferSize = 512 << 20
	// DefaultMaxReplicas bounds the replicas a shard knows (every node of the cluster is one).
	DefaultMaxReplicas = 256
	// DefaultMaxPendingDiffs bounds the presences waiting in diffs for the Handler before the queue is
	// coalesced into net diffs.
	DefaultMaxPendingDiffs = 100_000
)

// Config configures a Tracker. Zero values mean Phoenix's defaults; Name is required. Every node of the
// cluster must use the same Name and PoolSize (and should use the same timings).
type Config struct {
	// Name names the tracker; its gossip travels on topics derived from it. Required.
	Name string

	// Handler receives the diffs: joins and leaves, local and remote, grouped by topic. Nil: none.
	Handler Handler

	// PoolSize is the number of shards. A topic belongs to one shard, chosen by a hash of the topic that
	// is the same on every node, so PoolSize must be the same on every node. Default 1.
	PoolSize int

	// BroadcastPeriod is the heartbeat: how often a shard gossips its deltas (and, when it has had
	// nothing to say for MaxSilentPeriods, an empty heartbeat). Default 1.5 s.
	BroadcastPeriod time.Duration

	// MaxSilentPeriods is how many heartbeats a shard may skip when it has nothing new. Default 10.
	MaxSilentPeriods int

	// DownPeriod is how long a replica may stay silent before it is marked down (its presences leave,
	// hidden, kept). At least 2 × BroadcastPeriod. Default BroadcastPeriod × MaxSilentPeriods × 2 (30 s).
	DownPeriod time.Duration

	// PermdownPeriod is how long a replica may stay silent before it is discarded for good. More than
	// DownPeriod. Default 20 min.
	PermdownPeriod time.Duration

	// ClockSamplePeriods is how many heartbeats pass between transfer-request rounds (anti-entropy).
	// Default 2.
	ClockSamplePeriods int

	// MaxDeltaSizes are the size caps of the delta generations a shard keeps to answer transfer requests
	// without sending its whole state. Default [100, 1000, 10000].
	MaxDeltaSizes []int

	// MaxGossipSize is the largest gossip message a shard sends in one piece; larger ones (full-state
	// transfers, large deltas) are cut into chunks of at most this size. Keep it under the adapter's
	// MaxMessageSize. Default 256 KiB; at least 4 KiB.
	MaxGossipSize int

	// TransferWindow is how many bytes of one transfer may be in flight: sent and not yet merged by the
	// receiver, which grants credit as it merges (docs/tracker.md, "Transfers of any size"). A sender never
	// exceeds its own TransferWindow; a receiver grants at most its own. Default 1 MiB; at least
	// MaxGossipSize is used.
	TransferWindow int

	// ReceiveWindow is how many bytes of transfers may be in flight towards this node over all its
	// incoming transfers (each still gets one chunk at a time when the window is full). Keep it under
	// Redis's pubsub output-buffer limits. Default 4 MiB.
	ReceiveWindow int

	// TransferRate, when set, caps each transfer at that many bytes per second, on top of the receiver's
	// credit (heartbeats and small messages are not counted or delayed). Default 0: no cap, a transfer
	// runs as fast as its receiver merges.
	TransferRate int

	// MaxTransferSize is the largest transfer a shard accepts from a peer: a full state of up to about
	// MaxTransferSize/60 presences. Default 512 MiB.
	MaxTransferSize int

	// MaxReplicas bounds the replicas (nodes) a shard knows at a time; heartbeats of more are dropped
	// and counted. Default 256.
	MaxReplicas int

	// MaxPendingDiffs bounds the presences waiting in diffs for a slow Handler: beyond it, the waiting
	// diffs are coalesced into one net diff per topic (see Handler). Default 100 000.
	MaxPendingDiffs int

	// Logger receives the tracker's events. Nil: the discard logger.
	Logger *slog.Logger
}

// ProductionConfig returns Phoenix's production timings for a tracker named name: heartbeats every
// 1.5 s, at most 10 skipped when idle, anti-entropy every 2 heartbeats. The periods derived from them
// (DownPeriod: BroadcastPeriod × MaxSilentPeriods × 2, 30 s; PermdownPeriod: 20 min) are left zero, so
// that they follow an override of BroadcastPeriod or MaxSilentPeriods; New resolves them (Resolve shows
// the result). It does not validate: New reports a bad Name or period.
func ProductionConfig(name string, h Handler) Config {
	return Config{
		Name:               name,
		Handler:            h,
		PoolSize:           DefaultPoolSize,
		BroadcastPeriod:    DefaultBroadcastPeriod,
		MaxSilentPeriods:   DefaultMaxSilentPeriods,
		ClockSamplePeriods: DefaultClockSamplePeriods,
	}
}

// TestConfig returns fast timings for tests, the ones Phoenix's own test suite uses: heartbeats every
// 100 ms, down after 400 ms of silence, permdown after 1.5 s. These periods are set explicitly, as
// Phoenix's tests set them: change BroadcastPeriod and New tells you if DownPeriod no longer fits. It does
// not validate: New reports a bad Name or period.
func TestConfig(name string, h Handler) Config {
	return Config{
		Name:               name,
		Handler:            h,
		PoolSize:           DefaultPoolSize,
		BroadcastPeriod:    100 * time.Millisecond,
		MaxSilentPeriods:   2,
		DownPeriod:         400 * time.Millisecond,
		PermdownPeriod:     1500 * time.Millisecond,
		ClockSamplePeriods: DefaultClockSamplePeriods,
	}
}

// Resolve returns c with every zero field set as New sets it, or the error New would return for c.
func (c Config) Resolve() (Config, error) { return c.withDefaults() }

func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.Name == "":
		return bad("Name is required")
	case len(c.Name) > 200:
		return bad("Name is %d bytes, more than 200", len(c.Name))
	case c.PoolSize < 0 || c.PoolSize > 1024:
		return bad("PoolSize %d is outside 0..1024", c.PoolSize)
	case c.BroadcastPeriod < 0, c.DownPeriod < 0, c.PermdownPeriod < 0:
		return bad("periods must not be negative")
	case c.MaxSilentPeriods < 0 || c.ClockSamplePeriods < 0:
		return bad("MaxSilentPeriods and ClockSamplePeriods must not be negative")
	case c.MaxGossipSize != 0 && c.MaxGossipSize < 4<<10:
		return bad("MaxGossipSize %d is under 4 KiB", c.MaxGossipSize)
	case c.TransferRate < 0 || c.MaxTransferSize < 0 || c.MaxReplicas < 0 || c.MaxPendingDiffs < 0:
		return bad("TransferRate, MaxTransferSize, MaxReplicas and MaxPendingDiffs must not be negative")
	case c.TransferWindow < 0 || c.ReceiveWindow < 0:
		return bad("TransferWindow and ReceiveWindow must not be negative")
	}
	if c.MaxGossipSize == 0 {
		c.MaxGossipSize = DefaultMaxGossipSize
	}
	if c.TransferWindow == 0 {
		c.TransferWindow = DefaultTransferWindow
	}
	if c.ReceiveWindow == 0 {
		c.ReceiveWindow = DefaultReceiveWindow
	}
	if c.MaxTransferSize == 0 {
		c.MaxTransferSize = DefaultMaxTransferSize
	}
	if c.MaxReplicas == 0 {
		c.MaxReplicas = DefaultMaxReplicas
	}
	if c.MaxPendingDiffs == 0 {
		c.MaxPendingDiffs = DefaultMaxPendingDiffs
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.BroadcastPeriod == 0 {
		c.BroadcastPeriod = DefaultBroadcastPeriod
	}
	if c.MaxSilentPeriods == 0 {
		c.MaxSilentPeriods = DefaultMaxSilentPeriods
	}
	if c.DownPeriod == 0 {
		c.DownPeriod = c.BroadcastPeriod * time.Duration(c.MaxSilentPeriods) * 2
	}
	if c.PermdownPeriod == 0 {
		c.PermdownPeriod = max(DefaultPermdownPeriod, 2*c.DownPeriod)
	}
	if c.ClockSamplePeriods == 0 {
		c.ClockSamplePeriods = DefaultClockSamplePeriods
	}
	if c.MaxDeltaSizes == nil {
		c.MaxDeltaSizes = defaultDeltaSizes
	}
	// Phoenix's two checks, in Phoenix's order and words.
	if c.DownPeriod < 2*c.BroadcastPeriod {
		return bad("down_period must be at least twice as large as the broadcast_period (DownPeriod %v, BroadcastPeriod %v)", c.DownPeriod, c.BroadcastPeriod)
	}
	if c.PermdownPeriod <= c.DownPeriod {
		return bad("permdown_period must be at least larger than the down_period (PermdownPeriod %v, DownPeriod %v)", c.PermdownPeriod, c.DownPeriod)
	}
	if len(c.MaxDeltaSizes) == 0 || !slices.IsSorted(c.MaxDeltaSizes) || c.MaxDeltaSizes[0] <= 0 {
		return bad("MaxDeltaSizes %v must be positive and increasing", c.MaxDeltaSizes)
	}
	c.MaxDeltaSizes = slices.Clone(c.MaxDeltaSizes)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
