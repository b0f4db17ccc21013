package phoenixadapter

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
)

// Defaults used when a Config field is zero.
const (
	DefaultMaxMessageSize = etf.DefaultMaxSize // bytes per frame, both directions
	DefaultProbeInterval  = time.Second
)

// The Elixir modules the Phoenix adapter names as dispatchers.
const (
	// PubSubDispatcher is Phoenix.PubSub's default dispatcher, the Go PubSub's "".
	PubSubDispatcher = "Elixir.Phoenix.PubSub"
	// ChannelServerDispatcher is the dispatcher of Phoenix.Channel.Server.broadcast and
	// Endpoint.broadcast, which pushes a Phoenix.Socket.Broadcast to channel sockets (fastlane).
	ChannelServerDispatcher = "Elixir.Phoenix.Channel.Server"
)

// Config configures an Adapter. Give either Client or URL.
type Config struct {
	// Client is a go-redis client the program already has: a *redis.Client, a *redis.ClusterClient
	// (classic PUBLISH reaches every shard), or a failover client. The adapter uses it but does not
	// close it. Prefer MaxRetries -1 on it: go-redis retries a PUBLISH whose answer timed out, which
	// may deliver it twice, and this protocol has no sequence numbers to drop the duplicate with.
	Client redis.UniversalClient
	// URL makes the adapter build (and own, and close) its own client: redis://[user:password@]host:port/db
	// or rediss://… for TLS. Ignored when Client is set.
	URL string
	// PubSubName is the name of the Elixir application's PubSub, as its supervision tree gives it
	// ({Phoenix.PubSub, name: MyApp.PubSub, ...}): "MyApp.PubSub". The Redis channel is
	// "phx:Elixir.<PubSubName>.Adapter". Default: the Go PubSub's Config.Name.
	PubSubName string
	// NodeName is this node's name among the Elixir nodes: an atom on their side, so it must be unique
	// and stable (every distinct name becomes an atom on every Elixir node, forever). At most 255
	// characters. Default: "go-" and six random hex digits, "@" and the host name.
	NodeName string
	// Compression is the zlib level of outgoing frames, 0 (none) to 9, as phoenix_pubsub_redis's
	// compression_level: a frame is sent compressed only when that makes it smaller. Receiving handles
	// both forms whatever the level.
	Compression int
	// Atoms are the atoms (besides nil, true and false) that outgoing payloads may carry, as Atom values:
	// every atom a frame names is created on every Elixir node and never collected, so the set is fixed
	// here and a payload with any other Atom is refused. Default: none.
	Atoms []string
	// Dispatchers maps the names of Go dispatchers (pubsub.Config.Dispatchers) to the Elixir modules
	// that dispatch their broadcasts on the Elixir nodes, and back: {"fastlane":
	// "Phoenix.Channel.Server"}, say. The default dispatcher "" is always Phoenix.PubSub, except that a
	// SocketBroadcast payload goes with Phoenix.Channel.Server (as Endpoint.broadcast sends it); frames
	// from Elixir with Phoenix.Channel.Server and no mapping are delivered with the default dispatcher.
	// Frames naming any other module are dropped (Stats.Ignored).
	Dispatchers map[string]string
	// GoPayloads makes structs, and Go values that have no Elixir counterpart, travel as
	// {:phxgo_payload, type name, msgpack binary}: Go
	// nodes receive them as the PubSub's own frames would deliver them (a registered type as itself,
	// another as pubsub.Encoded), Elixir nodes as that opaque tuple. Without it (the default) a struct
	// is sent as a map with binary keys (see the package documentation), a value with no Elixir
	// counterpart fails with ErrUnencodable, and received tuples of that shape are delivered as Tuple.
	GoPayloads bool
	// TermPayloads delivers received messages undecoded, as Term values: Message.Decode (and
	// pubsub.As) then decode each straight into the destination, a struct say, without building a
	// map[string]any and converting it; Term.Value returns what is delivered without it. Frames are
	// checked in full as they arrive either way: one that does not decode is dropped and counted.
	TermPayloads bool
	// MaxMessageSize bounds a frame in both directions, and the inflated size of a compressed one:
	// larger broadcasts fail with pubsub.ErrTooLarge, larger frames received are dropped and counted.
	// Default DefaultMaxMessageSize.
	MaxMessageSize int
	// ProbeInterval is how often the adapter pings Redis on its subscription. A subscription that
	// carries nothing (no message, no answer to the ping) for three intervals is reconnected, and the
	// gap reported. Default DefaultProbeInterval; at least 10ms.
	ProbeInterval time.Duration
	// Logger receives the adapter's events. Nil means the PubSub's logger.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: phoenixadapter: "+format, append([]any{pubsub.ErrInvalidConfig}, args...)...)
	}
	if c.Client == nil && c.URL == "" {
		return bad("give Client or URL")
	}
	if c.NodeName == "" {
		c.NodeName = defaultNodeName()
	}
	if err := validAtom(c.NodeName); err != nil {
		return bad("NodeName: %v", err)
	}
	if c.PubSubName != "" {
		if err := validAtom(moduleName(c.PubSubName)); err != nil {
			return bad("PubSubName: %v", err)
		}
	}
	if c.Compression < 0 || c.Compression > 9 {
		return bad("Compression %d is outside 0..9", c.Compression)
	}
	for _, a := range c.Atoms {
		if err := validAtom(a); err != nil {
			return bad("Atoms: %v", err)
		}
	}
	for name, mod := range c.Dispatchers {
		if name == "" {
			return bad("Dispatchers: the default dispatcher \"\" is always Phoenix.PubSub")
		}
		if err := validAtom(moduleName(mod)); err != nil {
			return bad("Dispatchers[%q]: %v", name, err)
		}
	}
	if c.MaxMessageSize < 0 {
		return bad("MaxMessageSize %d is negative", c.MaxMessageSize)
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.ProbeInterval != 0 && c.ProbeInterval < 10*time.Millisecond {
		return bad("ProbeInterval %v is less than 10ms", c.ProbeInterval)
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	return c, nil
}

// validAtom checks what Erlang checks of an atom: valid UTF-8, at most 255 characters, and not empty
// here (an empty node or module name is a mistake).
func validAtom(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty")
	case !utf8.ValidString(s):
		return fmt.Errorf("%q is not valid UTF-8", s)
	case utf8.RuneCountInString(s) > 255:
		return fmt.Errorf("%d characters, more than an atom's 255", utf8.RuneCountInString(s))
	}
	return nil
}

// moduleName is the atom of an Elixir module: "MyApp.PubSub" and "Elixir.MyApp.PubSub" are both
// :"Elixir.MyApp.PubSub".
func moduleName(s string) string {
	if s == "" || strings.HasPrefix(s, "Elixir.") {
		return s
	}
	return "Elixir." + strings.TrimPrefix(s, ":")
}

// ChannelName is the Redis channel of the Phoenix PubSub called pubsubName (phoenix_pubsub_redis's
// "phx:" <> to_string(Module.concat(name, "Adapter"))): "phx:Elixir.MyApp.PubSub.Adapter".
func ChannelName(pubsubName string) string {
	return "phx:" + moduleName(pubsubName) + ".Adapter"
}

func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	var b [3]byte
	rand.Read(b[:])
	return "go-" + hex.EncodeToString(b[:]) + "@" + host
}
