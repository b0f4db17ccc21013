package phoenixadapter_test

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// goldenDir holds frames a real Elixir node published (../shared/interop/golden beside the checkout).
const goldenDir = "../../shared/interop/golden"

func golden(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// miniURL starts a miniredis for the test.
func miniURL(t testing.TB) (*miniredis.Miniredis, string) {
	m := miniredis.RunT(t)
	return m, "redis://" + m.Addr()
}

// newNode starts a PubSub on a phoenixadapter with cfg (URL and NodeName as given).
func newNode(t testing.TB, cfg phoenixadapter.Config, pcfg pubsub.Config) (*pubsub.PubSub, *phoenixadapter.Adapter) {
	t.Helper()
	if cfg.PubSubName == "" {
		cfg.PubSubName = "MyApp.PubSub"
	}
	a, err := phoenixadapter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pcfg.Name == "" {
		pcfg.Name = cfg.PubSubName
	}
	pcfg.Adapter = a
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := pubsub.New(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps, a
}

func subscribe(t testing.TB, ps *pubsub.PubSub, topic string) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	return s
}

func receive(t testing.TB, s *pubsub.Subscriber, d time.Duration) pubsub.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	msg, err := s.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return msg
}

// quiet checks that s receives nothing for d.
func quiet(t testing.TB, s *pubsub.Subscriber, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.C():
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(d):
	}
}

// rawSubscriber reads the frames published on a channel, as another node would.
type rawSubscriber struct {
	c  *redis.Client
	ps *redis.PubSub
}

func newRawSubscriber(t testing.TB, url, channel string) *rawSubscriber {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawSubscriber{c: redis.NewClient(opt)}
	r.ps = r.c.Subscribe(context.Background(), channel)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.ps.Receive(ctx); err != nil { // the confirmation
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ps.Close(); r.c.Close() })
	return r
}

func (r *rawSubscriber) next(t testing.TB) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := r.ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(m.Payload)
}

func (r *rawSubscriber) publish(t testing.TB, channel string, frame []byte) {
	t.Helper()
	if err := r.c.Publish(context.Background(), channel, frame).Err(); err != nil {
		t.Fatal(err)
	}
}

// realRedisURL returns PHXGO_REDIS_URL, or skips (fails with PHXGO_REDIS_REQUIRED=1).
func realRedisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" {
		if os.Getenv("PHXGO_REDIS_REQUIRED") == "1" {
			t.Fatal("PHXGO_REDIS_URL is not set but PHXGO_REDIS_REQUIRED=1: real-Redis tests must run")
		}
		t.Skip("set PHXGO_REDIS_URL=redis://127.0.0.1:6379/0 to run the real-Redis tests")
	}
	return url
}

// killPubSubConn closes, with CLIENT KILL ID, the subscription connection named clientName.
func killPubSubConn(t testing.TB, admin *redis.Client, clientName string) {
	t.Helper()
	list, err := admin.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatalf("CLIENT LIST TYPE pubsub: %v", err)
	}
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, field := range strings.Fields(line) {
			k, v, _ := strings.Cut(field, "=")
			switch {
			case k == "id":
				id = v
			case k == "name" && v == clientName:
				named = true
			}
		}
		if named {
			if err := admin.ClientKillByFilter(context.Background(), "ID", id).Err(); err != nil {
				t.Fatalf("CLIENT KILL ID %s: %v", id, err)
			}
			return
		}
	}
	t.Fatalf("no subscription connection named %q in CLIENT LIST TYPE pubsub", clientName)
}
