package redisadapter_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

var ctx = context.Background()

// realRedisURL returns the URL of the real redis-server the tests may use (PHXGO_REDIS_URL). Without
// one the test is skipped, unless PHXGO_REDIS_REQUIRED=1 (as in CI), which makes it fail instead.
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

var uniq atomic.Int64

// uniqueName returns a PubSub name no other test uses, so tests on one Redis never see each other.
func uniqueName(t testing.TB) string {
	return fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), uniq.Add(1))
}

// startNode starts a PubSub on a Redis adapter made from acfg, closed at cleanup.
func startNode(t testing.TB, name string, acfg redisadapter.Config, pcfg pubsub.Config) (*pubsub.PubSub, *redisadapter.Adapter) {
	t.Helper()
	a, err := redisadapter.New(acfg)
	if err != nil {
		t.Fatalf("redisadapter.New: %v", err)
	}
	pcfg.Name, pcfg.Adapter = name, a
	ps, err := pubsub.New(context.Background(), pcfg)
	if err != nil {
		t.Fatalf("pubsub.New: %v", err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps, a
}

func miniURL(t testing.TB) (*miniredis.Miniredis, string) {
	m := miniredis.RunT(t)
	return m, "redis://" + m.Addr() + "/0"
}

func plainClient(t testing.TB, url string) *redis.Client {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t testing.TB, s *pubsub.Subscriber) pubsub.Message {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msg, err := s.Receive(c)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return msg
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// assertQuiet checks that s receives nothing for a while.
func assertQuiet(t testing.TB, s *pubsub.Subscriber, d time.Duration) {
	t.Helper()
	select {
	case msg := <-s.C():
		t.Fatalf("unexpected message %+v", msg)
	case <-time.After(d):
	}
}

// newSub returns a new subscriber of ps, or fails the test.
func newSub(t testing.TB, ps *pubsub.PubSub, opts ...pubsub.MailboxOption) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber(opts...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	return s
}
