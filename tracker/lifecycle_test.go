package tracker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/tracker"
)

// failingAdapter is a transport that accepts Start and refuses every send.
type failingAdapter struct{ err error }

func (a *failingAdapter) Start(context.Context, pubsub.Host) error { return nil }
func (a *failingAdapter) NodeName() string                         { return "lonely" }
func (a *failingAdapter) Close() error                             { return nil }
func (a *failingAdapter) Broadcast(context.Context, pubsub.Frame) error {
	return a.err
}
func (a *failingAdapter) DirectBroadcast(context.Context, string, pubsub.Frame) error {
	return a.err
}

// The tracker follows its PubSub: once the PubSub is closed, every call returns ErrClosed (which
// matches pubsub.ErrClosed), even before the tracker's own Close.
func TestTrackerFollowsItsPubSub(t *testing.T) {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracker.New(ps, tracker.TestConfig("presence", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	owner := newOwner(t, ps)
	if _, err := tr.Track(owner, "room", "alice", nil); err != nil {
		t.Fatal(err)
	}
	ps.Close()
	if _, err := tr.Track(owner, "room", "bob", nil); !errors.Is(err, tracker.ErrClosed) || !errors.Is(err, pubsub.ErrClosed) {
		t.Errorf("Track after the PubSub closed: %v, want ErrClosed", err)
	}
	if err := tr.UntrackAll(owner); !errors.Is(err, pubsub.ErrClosed) {
		t.Errorf("UntrackAll after the PubSub closed: %v", err)
	}
	if err := tr.GracefulPermdown(context.Background()); !errors.Is(err, pubsub.ErrClosed) {
		t.Errorf("GracefulPermdown after the PubSub closed: %v", err)
	}
}

// GracefulPermdown says so when the announcement could not be sent (memberlist's Leave does the same):
// peers will notice only by silence, after DownPeriod.
func TestGracefulPermdownReportsAnUnsentAnnouncement(t *testing.T) {
	refused := errors.New("no route to redis")
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "lifecycle", Adapter: &failingAdapter{err: refused}})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	tr, err := tracker.New(ps, tracker.TestConfig("presence", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.GracefulPermdown(context.Background()); !errors.Is(err, refused) {
		t.Fatalf("GracefulPermdown with a transport that refuses: %v, want the transport's error", err)
	}
	if _, err := tr.Track(newOwner(t, ps), "room", "a", nil); !errors.Is(err, tracker.ErrClosed) {
		t.Errorf("Track after GracefulPermdown: %v, want ErrClosed", err)
	}
}

// Presets never panic, and the periods ProductionConfig derives follow an override (memberlist's
// manner): a longer heartbeat gives a longer DownPeriod; an empty name is New's error, not a panic.
func TestPresets(t *testing.T) {
	cfg := tracker.ProductionConfig("presence", nil)
	cfg.BroadcastPeriod = 3 * time.Second
	got, err := cfg.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second * tracker.DefaultMaxSilentPeriods * 2; got.DownPeriod != want {
		t.Errorf("DownPeriod %v after BroadcastPeriod = 3s, want %v (derived from the override)", got.DownPeriod, want)
	}
	if got.PermdownPeriod <= got.DownPeriod {
		t.Errorf("PermdownPeriod %v not above DownPeriod %v", got.PermdownPeriod, got.DownPeriod)
	}
	if def, _ := tracker.ProductionConfig("p", nil).Resolve(); def.DownPeriod != 30*time.Second || def.PermdownPeriod != 20*time.Minute {
		t.Errorf("production defaults: DownPeriod %v, PermdownPeriod %v; want Phoenix's 30s and 20m", def.DownPeriod, def.PermdownPeriod)
	}

	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "presets"})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	for _, bad := range []tracker.Config{tracker.ProductionConfig("", nil), tracker.TestConfig("", nil)} {
		if tr, err := tracker.New(ps, bad); !errors.Is(err, tracker.ErrInvalidConfig) {
			if tr != nil {
				tr.Close()
			}
			t.Errorf("New with an empty name: %v, want ErrInvalidConfig", err)
		}
	}
	slow := tracker.TestConfig("presence", nil)
	slow.BroadcastPeriod = time.Second // DownPeriod (400 ms) no longer fits: New says so
	if _, err := tracker.New(ps, slow); !errors.Is(err, tracker.ErrInvalidConfig) {
		t.Errorf("New with DownPeriod under 2 × BroadcastPeriod: %v, want ErrInvalidConfig", err)
	}
}
