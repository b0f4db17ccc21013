package phoenixpresence

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/phxgo/pubsub/tracker"
)

// Phoenix.Tracker's default timings, which the Elixir nodes use unless their Presence is configured
// otherwise. Every node of a Presence must use the same ones.
const (
	DefaultBroadcastPeriod    = 1500 * time.Millisecond
	DefaultMaxSilentPeriods   = 10
	DefaultPermdownPeriod     = 20 * time.Minute
	DefaultClockSamplePeriods = 2
)

// Config configures a Tracker. Name is required; the timings must be those of the Elixir
// application's Presence (its defaults unless it sets broadcast_period and the others).
type Config struct {
	// Name is the Elixir Presence module, as in `use Phoenix.Presence` inside MyApp.Presence:
	// "MyApp.Presence". The gossip travels on topic "phx_presence:Elixir.MyApp.Presence_shard0".
	Name string
	// BroadcastPeriod is how often the replica sends its heartbeat (broadcast_period). Default 1.5 s.
	BroadcastPeriod time.Duration
	// MaxSilentPeriods is how many periods without changes pass before an empty heartbeat is sent
	// (max_silent_periods). Default 10.
	MaxSilentPeriods int
	// DownPeriod is how long a replica may stay silent before its presences are hidden
	// (down_period). Default BroadcastPeriod × MaxSilentPeriods × 2 (30 s).
	DownPeriod time.Duration
	// PermdownPeriod is how long a replica may stay silent before it is removed for good
	// (permdown_period). Default 20 minutes.
	PermdownPeriod time.Duration
	// ClockSamplePeriods is how many heartbeats pass between two checks for replicas whose clocks
	// show this one is missing something, which are then asked for their state (clock_sample_periods).
	// Default 2.
	ClockSamplePeriods int
	// ElixirMapSet is the shape of the MapSets written into the tracker's state: "1.14" (the default:
	// %MapSet{map: m, version: 2}, which Elixir ≤ 1.14 writes and which the pinned 1.14 node merges) or
	// "1.15" (without version, as Elixir 1.15+ writes). Both are read whatever this is.
	ElixirMapSet string
	// Handler receives the diffs of every presence change, on this node's and on others', one call
	// at a time and in order, on a goroutine of its own. Nil: none.
	Handler tracker.Handler
	// MaxDeltaSizes are the sizes (presences and dots) of the delta generations kept to answer a
	// transfer_req with a delta rather than the full state (max_delta_sizes). Default
	// DefaultMaxDeltaSizes, Phoenix's; a single 0 keeps none (every transfer sends the full state).
	MaxDeltaSizes []int
	// MaxPendingDiffs bounds the presences in the diffs waiting for a slow Handler: past it, the oldest
	// diffs are dropped (Stats.DroppedDiffs) and a warning logged. Default 100,000.
	MaxPendingDiffs int
	// Limits bound the gossip this replica accepts.
	Limits Limits
	// Logger receives the tracker's events. Nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: phoenixpresence: "+format, append([]any{tracker.ErrInvalidConfig}, args...)...)
	}
	if strings.TrimPrefix(c.Name, "Elixir.") == "" {
		return bad("Name (the Elixir Presence module, \"MyApp.Presence\") is required")
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
		c.PermdownPeriod = DefaultPermdownPeriod
	}
	switch {
	case len(c.MaxDeltaSizes) == 0:
		c.MaxDeltaSizes = DefaultMaxDeltaSizes
	case len(c.MaxDeltaSizes) == 1 && c.MaxDeltaSizes[0] == 0:
		c.MaxDeltaSizes = nil
	default:
		for _, n := range c.MaxDeltaSizes {
			if n <= 0 {
				return bad("MaxDeltaSizes %v: sizes must be positive", c.MaxDeltaSizes)
			}
		}
	}
	if c.MaxPendingDiffs <= 0 {
		c.MaxPendingDiffs = 100_000
	}
	if c.ClockSamplePeriods == 0 {
		c.ClockSamplePeriods = DefaultClockSamplePeriods
	}
	switch {
	case c.BroadcastPeriod < time.Millisecond:
		return bad("BroadcastPeriod %v is under 1ms", c.BroadcastPeriod)
	case c.MaxSilentPeriods < 0 || c.ClockSamplePeriods < 0:
		return bad("MaxSilentPeriods and ClockSamplePeriods must be positive")
	case c.DownPeriod < 2*c.BroadcastPeriod:
		return bad("DownPeriod must be at least twice BroadcastPeriod (as Phoenix requires)")
	case c.PermdownPeriod <= c.DownPeriod:
		return bad("PermdownPeriod must be larger than DownPeriod (as Phoenix requires)")
	}
	switch c.ElixirMapSet {
	case "":
		c.ElixirMapSet = "1.14"
	case "1.14", "1.15":
	default:
		return bad("ElixirMapSet %q is neither \"1.14\" nor \"1.15\"", c.ElixirMapSet)
	}
	return c, nil
}

// Topic is the gossip topic of the Presence module called name (pool size 1):
// "phx_presence:Elixir.MyApp.Presence_shard0".
func Topic(name string) string {
	return "phx_presence:Elixir." + strings.TrimPrefix(name, "Elixir.") + "_shard0"
}
