package pubsub

import (
	"fmt"
	"log/slog"
	"math/bits"
	"runtime"
	"time"
)

// Defaults used when a Config field is zero.
const (
	// DefaultMailboxSize is the number of messages a Subscriber's mailbox holds before it drops.
	DefaultMailboxSize = 256
	// DefaultNodeName is the node name of a PubSub without an adapter, after Erlang's name for a node
	// that is not distributed.
	DefaultNodeName = "nonode@nohost"
	// DefaultClockSkew is the default Config.ClockSkew.
	DefaultClockSkew = 5 * time.Second
	maxPoolSize      = 1 << 16
	maxNameLen       = 255
	minSecretLen     = 16
)

// Config configures a PubSub. The zero value of every field but Name means "use the default".
type Config struct {
	// Name names the PubSub. Required. Nodes that share an adapter and a Name form one PubSub; adapters
	// namespace their traffic with it, so two PubSubs with different names never see each other.
	Name string

	// Adapter carries broadcasts to other nodes. Nil means none: a single node (localadapter.New
	// behaves the same). The PubSub owns the adapter from the moment New is called: it starts it in New
	// and closes it in every outcome (New's failure, or Close).
	Adapter Adapter

	// NodeName names this node when Adapter is nil (with an adapter, the adapter names the node).
	// Default DefaultNodeName.
	NodeName string

	// PoolSize is the number of registry partitions. Topics are spread over partitions by hash, so
	// broadcasts and subscriptions on different topics rarely share a lock. Default 4 × GOMAXPROCS,
	// rounded up to a power of two. Unlike Phoenix's pool_size it is local to this node and need not
	// agree across the cluster.
	PoolSize int

	// Dispatchers names the custom dispatchers a broadcast may choose with WithDispatcher. Give every
	// node the same map: the name travels with remote broadcasts and is resolved on each receiving node.
	Dispatchers map[string]Dispatcher

	// Logger receives the PubSub's and its adapter's events. Nil discards them.
	Logger *slog.Logger

	// MailboxSize is the default mailbox bound of new Subscribers (WithMailboxSize overrides it).
	// Default DefaultMailboxSize.
	MailboxSize int

	// Overflow is the default policy when a mailbox is full (WithOverflow overrides it).
	// Default DropNewest.
	Overflow OverflowPolicy

	// OnSlowConsumer, when set, is called once per slow-consumer episode. An episode begins when a
	// subscriber's mailbox first overflows and ends once the mailbox has drained to half its size (checked
	// every 50 ms while an episode lasts), so a consumer hovering at its limit is reported once, not once
	// per dropped message. It runs on the PubSub's own goroutine, never on a broadcaster's; it must not
	// block for long. Nil logs the event at Warn level on Logger.
	OnSlowConsumer func(SlowConsumer)

	// Secrets, when set, sign every frame this node sends (with Secrets[0]) and make it drop every
	// frame that is unsigned, or signed with none of Secrets, or signed for a PubSub of another Name,
	// or replayed (see docs/protocol.md, "Signing" and "Replay"). Give every node the same secrets,
	// each at least 16 random bytes (32 recommended). To rotate: add the new secret second on every
	// node, then move it first on every node, then remove the old one. Adapters that carry messages
	// in a format of their own (MessageCarrier) cannot sign: New refuses Secrets with them.
	Secrets [][]byte

	// ClockSkew is how far the clocks of the nodes may disagree, with Secrets. A signed frame is
	// refused when it was sent (by its sender's clock) more than ClockSkew before this node started, or
	// more than a minute plus ClockSkew ago. Default DefaultClockSkew.
	ClockSkew time.Duration
}

// OverflowPolicy says which message a full mailbox drops.
type OverflowPolicy int

const (
	// DropNewest drops the message being delivered and keeps the mailbox as it is (the default).
	DropNewest OverflowPolicy = iota
	// DropOldest drops the oldest queued message to make room for the new one.
	DropOldest
	// CloseOnOverflow drops the message and closes the subscriber, as centrifuge disconnects a client
	// past its queue limit: its reader drains what was queued, then C closes and Receive returns
	// ErrSlowConsumer. For a subscriber per connection, whose client is better reconnected (and made
	// to resynchronise) than fed a stream with holes. The subscriber is closed on the PubSub's own
	// goroutine, just after the overflow, and reported to OnSlowConsumer like any episode.
	CloseOnOverflow
)

func (p OverflowPolicy) String() string {
	switch p {
	case DropNewest:
		return "drop_newest"
	case DropOldest:
		return "drop_oldest"
	case CloseOnOverflow:
		return "close_on_overflow"
	}
	return fmt.Sprintf("OverflowPolicy(%d)", int(p))
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("%w: Name is required", ErrInvalidConfig)
	}
	if len(c.Name) > maxNameLen {
		return c, fmt.Errorf("%w: Name is %d bytes, more than %d", ErrInvalidConfig, len(c.Name), maxNameLen)
	}
	if len(c.NodeName) > maxNameLen {
		return c, fmt.Errorf("%w: NodeName is %d bytes, more than %d", ErrInvalidConfig, len(c.NodeName), maxNameLen)
	}
	if c.PoolSize < 0 || c.PoolSize > maxPoolSize {
		return c, fmt.Errorf("%w: PoolSize %d is outside 0..%d", ErrInvalidConfig, c.PoolSize, maxPoolSize)
	}
	if c.MailboxSize < 0 {
		return c, fmt.Errorf("%w: MailboxSize %d is negative", ErrInvalidConfig, c.MailboxSize)
	}
	if err := c.Overflow.validate(); err != nil {
		return c, err
	}
	for name, d := range c.Dispatchers {
		if name == "" {
			return c, fmt.Errorf("%w: dispatcher name is empty (the default dispatcher has no name)", ErrInvalidConfig)
		}
		if len(name) > maxNameLen {
			return c, fmt.Errorf("%w: dispatcher name %.20q… is %d bytes, more than %d", ErrInvalidConfig, name, len(name), maxNameLen)
		}
		if d == nil {
			return c, fmt.Errorf("%w: dispatcher %q is nil", ErrInvalidConfig, name)
		}
	}
	for i, secret := range c.Secrets {
		if len(secret) < minSecretLen {
			return c, fmt.Errorf("%w: Secrets[%d] is %d bytes; use at least %d random bytes (32 recommended)", ErrInvalidConfig, i, len(secret), minSecretLen)
		}
	}
	if c.ClockSkew < 0 {
		return c, fmt.Errorf("%w: ClockSkew %v is negative", ErrInvalidConfig, c.ClockSkew)
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.NodeName == "" {
		c.NodeName = DefaultNodeName
	}
	if c.PoolSize == 0 {
		c.PoolSize = 4 * runtime.GOMAXPROCS(0)
	}
	c.PoolSize = 1 << bits.Len(uint(c.PoolSize-1)) // round up to a power of two
	if c.MailboxSize == 0 {
		c.MailboxSize = DefaultMailboxSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (p OverflowPolicy) validate() error {
	if p != DropNewest && p != DropOldest && p != CloseOnOverflow {
		return fmt.Errorf("%w: unknown overflow policy %d", ErrInvalidConfig, int(p))
	}
	return nil
}
