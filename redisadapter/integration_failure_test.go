package redisadapter_test

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// What a broadcast's error means when the network fails, and how long Close takes then. Node b talks
// to a private redis-server through a fault proxy; node a talks to it directly.

const (
	// ctxBound is how long a broadcast with a 200 ms context may take in a black hole: its context
	// ends the wait whether its frame is queued or in a pipeline Redis does not answer.
	ctxBound = 300 * time.Millisecond
	// closeBound is how long Close may take in a black hole: the grace for pipelines in flight
	// (250 ms), then the client is closed, which breaks every blocked round trip.
	closeBound = time.Second
)

// broadcastWithin broadcasts from ps with a context of d and returns the error and how long it took.
func broadcastWithin(ps *pubsub.PubSub, d time.Duration, payload string) (error, time.Duration) {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	err := ps.Broadcast(c, "t", payload)
	return err, time.Since(start)
}

// Redis carries out b's PUBLISH but its answer is lost (a partition that begins mid round trip). b's
// broadcast returns when its context ends, with an error that says the frame may have been delivered,
// and indeed a receives it: an error from a broadcast does not mean that nothing was delivered. A
// second broadcast, queued behind the unanswered pipeline, fails "not sent", and is not.
func TestBlackholeErrorMayHaveBeenDelivered(t *testing.T) {
	srv := startRedis(t)
	p := startProxy(t, srv.Addr())
	// A long probe interval: no probe competes with the broadcasts for b's pipeline.
	n := startTwoNodes(t, srv.URL(), "redis://"+p.Addr()+"/0", time.Minute)
	n.checkFlowing(t, 5*time.Second)

	p.BlackholeReplies(true)
	err, d := broadcastWithin(n.b, 200*time.Millisecond, "sent, unanswered")
	t.Logf("broadcast into a one-way black hole: %v after %v", err, d)
	if !errors.Is(err, redisadapter.ErrMaybeDelivered) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want an error wrapping redisadapter.ErrMaybeDelivered and context.DeadlineExceeded", err)
	}
	if err != nil && !strings.Contains(err.Error(), "may have been delivered") {
		t.Errorf("error %q does not say that the frame may have been delivered", err)
	}
	if d > ctxBound {
		t.Errorf("broadcast with a 200 ms context took %v, want ≤ %v", d, ctxBound)
	}
	receivePayload(t, n.sa, "sent, unanswered", 5*time.Second)
	t.Log("a received the frame whose broadcast failed")

	err, d = broadcastWithin(n.b, 200*time.Millisecond, "queued, never sent")
	t.Logf("broadcast queued behind it: %v after %v", err, d)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redisadapter.ErrMaybeDelivered) {
		t.Errorf("got %v, want context.DeadlineExceeded without ErrMaybeDelivered (not sent)", err)
	}
	if d > ctxBound {
		t.Errorf("broadcast with a 200 ms context took %v, want ≤ %v", d, ctxBound)
	}

	start := time.Now()
	n.b.Close()
	if took := time.Since(start); took > closeBound {
		t.Errorf("Close took %v with a pipeline unanswered, want ≤ %v", took, closeBound)
	} else {
		t.Logf("Close took %v with a pipeline unanswered", took)
	}
	drain(n.sa)
	assertQuiet(t, n.sa, 200*time.Millisecond) // the queued frame was never sent
}

// A partition: b's broadcasts return when their contexts end, and Close returns within a second with
// a pipeline in flight, broadcasts queued, and the receiver resubscribing into the hole; every
// goroutine of the adapter and of go-redis is gone when it returns.
func TestBlackholeCloseIsBounded(t *testing.T) {
	srv := startRedis(t)
	p := startProxy(t, srv.Addr())
	n := startTwoNodes(t, srv.URL(), "redis://"+p.Addr()+"/0", blackholeProbe)
	n.checkFlowing(t, 5*time.Second)
	before := n.ab.Stats()

	p.Blackhole(true)
	for i := range 3 {
		err, d := broadcastWithin(n.b, 200*time.Millisecond, "into the hole")
		t.Logf("broadcast %d with a 200 ms context: %v after %v", i, err, d)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want an error wrapping context.DeadlineExceeded", err)
		}
		if d > ctxBound {
			t.Errorf("broadcast with a 200 ms context took %v, want ≤ %v", d, ctxBound)
		}
	}
	pending := make(chan error, 3)
	for range cap(pending) {
		go func() { pending <- n.b.Broadcast(ctx, "t", "no deadline") }()
	}
	waitFor(t, 10*time.Second, "b to find its subscription dead and resubscribe", func() bool {
		return n.ab.Stats().ProbeFailures > before.ProbeFailures
	})
	n.a.Close()

	start := time.Now()
	n.b.Close()
	took := time.Since(start)
	t.Logf("Close took %v during the partition", took)
	if took > closeBound {
		t.Errorf("Close took %v during a partition, want ≤ %v", took, closeBound)
	}
	// Close has released every broadcast still waiting when it returns (they wait on channels it
	// closes); each then needs its goroutine scheduled to return, so allow it a moment.
	released := time.After(100 * time.Millisecond)
	for range cap(pending) {
		select {
		case err := <-pending:
			t.Logf("broadcast without deadline: %v", err)
			if !errors.Is(err, pubsub.ErrClosed) {
				t.Errorf("broadcast pending at Close: %v, want pubsub.ErrClosed", err)
			}
		case <-released:
			t.Fatal("a broadcast was still waiting 100 ms after Close returned")
		}
	}
	// A goroutine that has closed the channel Close waits on may not have returned yet (the last
	// deferred call runs, then the function's epilogue): allow it the moment goleak would.
	left := adapterGoroutines()
	for deadline := time.Now().Add(100 * time.Millisecond); left != "" && time.Now().Before(deadline); left = adapterGoroutines() {
		time.Sleep(time.Millisecond)
	}
	if left != "" {
		t.Errorf("goroutines of the adapter or go-redis still running 100 ms after Close:\n%s", left)
	}
}

// receivePayload waits for payload on s, skipping what checkFlowing sent, and fails after d.
func receivePayload(t testing.TB, s *pubsub.Subscriber, payload string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case msg := <-s.C():
			if msg.Payload == payload {
				return
			}
			if p, _ := msg.Payload.(string); !strings.HasPrefix(p, "resume-") {
				t.Fatalf("received %v, want %q", msg.Payload, payload)
			}
		case <-timeout:
			t.Fatalf("%q not received within %v", payload, d)
		}
	}
}

var goroutineHeader = regexp.MustCompile(`^goroutine \d+ `)

// adapterGoroutines returns the stacks of the goroutines running code of this adapter or of go-redis.
func adapterGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !goroutineHeader.MatchString(g) {
			continue
		}
		if strings.Contains(g, "github.com/phxgo/pubsub/redisadapter.") || strings.Contains(g, "github.com/redis/go-redis/") {
			left = append(left, g)
		}
	}
	return strings.Join(left, "\n\n")
}

// The same partition with b's client given in Config.Client, which the adapter must not close and
// whose blocked round trips it cannot break: Close still returns within a second, releasing the
// broadcast in flight (pubsub.ErrClosed) instead of waiting for go-redis's read timeout (5 s). The
// round trip the adapter abandoned ends when the caller closes its client, and nothing of the adapter
// outlives that.
func TestBlackholeCloseIsBoundedWithGivenClient(t *testing.T) {
	srv := startRedis(t)
	p := startProxy(t, srv.Addr())
	client := plainClient(t, "redis://"+p.Addr()+"/0")
	name := uniqueName(t)
	a, _ := startNode(t, name, redisadapter.Config{URL: srv.URL(), NodeName: "a", ProbeInterval: blackholeProbe}, pubsub.Config{})
	b, ab := startNode(t, name, redisadapter.Config{Client: client, NodeName: "b", ProbeInterval: blackholeProbe}, pubsub.Config{})
	sa := newSub(t, a, pubsub.WithMailboxSize(4096))
	sa.Subscribe("t")
	deliveryResumes(t, 5*time.Second, "b → a (broadcast)", sa, func(p string) error { return b.Broadcast(ctx, "t", p) })
	before := ab.Stats()

	p.Blackhole(true)
	pending := make(chan error, 1)
	go func() { pending <- b.Broadcast(ctx, "t", "no deadline") }()
	waitFor(t, 10*time.Second, "b to find its subscription dead", func() bool {
		return ab.Stats().ProbeFailures > before.ProbeFailures
	})
	select {
	case err := <-pending:
		t.Fatalf("a broadcast into the hole returned before Close: %v", err)
	default:
	}

	start := time.Now()
	b.Close()
	took := time.Since(start)
	t.Logf("Close took %v during the partition, with the caller's client", took)
	if took > closeBound {
		t.Errorf("Close took %v during a partition with Config.Client, want ≤ %v", took, closeBound)
	}
	select {
	case err := <-pending:
		t.Logf("broadcast without deadline: %v", err)
		if !errors.Is(err, pubsub.ErrClosed) {
			t.Errorf("broadcast pending at Close: %v, want pubsub.ErrClosed", err)
		}
	case <-time.After(100 * time.Millisecond):
		t.Fatal("a broadcast was still waiting 100 ms after Close returned")
	}

	// The client is the caller's to close; closing it ends the abandoned round trip.
	a.Close()
	client.Close()
	left := adapterGoroutines()
	for deadline := time.Now().Add(time.Second); left != "" && time.Now().Before(deadline); left = adapterGoroutines() {
		time.Sleep(time.Millisecond)
	}
	if left != "" {
		t.Errorf("goroutines of the adapter or go-redis still running 1 s after Close and the client's Close:\n%s", left)
	}
}
