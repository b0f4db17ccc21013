package pubsub_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/phxgo/pubsub"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	d := pubsub.DispatcherFunc(func([]pubsub.Entry, *pubsub.Subscriber, pubsub.Message) {})
	for _, tc := range []struct {
		name string
		cfg  pubsub.Config
		want string
	}{
		{"no name", pubsub.Config{}, "Name is required"},
		{"long name", pubsub.Config{Name: strings.Repeat("n", 256)}, "Name is 256 bytes"},
		{"long node name", pubsub.Config{Name: "x", NodeName: strings.Repeat("n", 256)}, "NodeName is 256 bytes"},
		{"negative pool", pubsub.Config{Name: "x", PoolSize: -1}, "PoolSize -1"},
		{"huge pool", pubsub.Config{Name: "x", PoolSize: 1 << 20}, "PoolSize 1048576"},
		{"negative mailbox", pubsub.Config{Name: "x", MailboxSize: -3}, "MailboxSize -3"},
		{"bad overflow", pubsub.Config{Name: "x", Overflow: 7}, "unknown overflow policy 7"},
		{"empty dispatcher name", pubsub.Config{Name: "x", Dispatchers: map[string]pubsub.Dispatcher{"": d}}, "dispatcher name is empty"},
		{"nil dispatcher", pubsub.Config{Name: "x", Dispatchers: map[string]pubsub.Dispatcher{"d": nil}}, `dispatcher "d" is nil`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := pubsub.New(context.Background(), tc.cfg)
			if err == nil {
				ps.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, pubsub.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	ps := newPS(t, pubsub.Config{Name: "x"})
	if got := ps.NodeName(); got != pubsub.DefaultNodeName {
		t.Errorf("NodeName = %q, want %q", got, pubsub.DefaultNodeName)
	}
	if got := ps.Name(); got != "x" {
		t.Errorf("Name = %q", got)
	}
	s := newSub(t, ps)
	if got := s.Cap(); got != pubsub.DefaultMailboxSize {
		t.Errorf("mailbox = %d, want %d", got, pubsub.DefaultMailboxSize)
	}
	if got := newSub(t, ps, pubsub.WithMailboxSize(3)).Cap(); got != 3 {
		t.Errorf("WithMailboxSize(3) mailbox = %d", got)
	}
	if got := newSub(t, newPS(t, pubsub.Config{Name: "y", MailboxSize: 9})).Cap(); got != 9 {
		t.Errorf("Config.MailboxSize 9: mailbox = %d", got)
	}
	if got := newPS(t, pubsub.Config{Name: "z", NodeName: "a@b"}).NodeName(); got != "a@b" {
		t.Errorf("NodeName = %q", got)
	}
}

func TestOverflowPolicyString(t *testing.T) {
	for p, want := range map[pubsub.OverflowPolicy]string{pubsub.DropNewest: "drop_newest", pubsub.DropOldest: "drop_oldest", 5: "OverflowPolicy(5)"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(p), got, want)
		}
	}
}
