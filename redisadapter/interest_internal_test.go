package redisadapter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
)

// fakeSub records the commands a bucketTable sends; Redis's confirmations are the test's to give.
type fakeSub struct {
	mu     sync.Mutex
	cmds   []string // "SUBSCRIBE ch1 ch2", …
	closed bool
	fail   error
}

func (s *fakeSub) receive() (event, error)     { return event{}, io.EOF }
func (s *fakeSub) ready(context.Context) error { return nil }
func (s *fakeSub) close()                      { s.mu.Lock(); s.closed = true; s.mu.Unlock() }
func (s *fakeSub) command(name string, channels []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.cmds = append(s.cmds, strings.Join(append([]string{name}, channels...), " "))
	return nil
}

func (s *fakeSub) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cmds
	s.cmds = nil
	return c
}

// forgetHost records ForgetRoute; the table calls nothing else of its host.
type forgetHost struct {
	pubsub.RoutedHost
	mu     sync.Mutex
	forgot []int
}

func (h *forgetHost) ForgetRoute(route int) {
	h.mu.Lock()
	h.forgot = append(h.forgot, route)
	h.mu.Unlock()
}

func (h *forgetHost) take() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.forgot
	h.forgot = nil
	return f
}

func newTestTable(t *testing.T, linger time.Duration) (*bucketTable, *fakeSub, *forgetHost) {
	t.Helper()
	return newTestTableBuckets(t, linger, 1024)
}

func newTestTableBuckets(t *testing.T, linger time.Duration, buckets int) (*bucketTable, *fakeSub, *forgetHost) {
	t.Helper()
	cfg, err := Config{URL: "redis://x", RouteByTopic: true, RouteLinger: linger, Buckets: buckets}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	a := &Adapter{cfg: cfg, routes: newRoutes(cfg), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.routes.chPrefix = "p:{n}:b:"
	h := &forgetHost{}
	tb := newBucketTable(a, h)
	t.Cleanup(tb.close)
	sub := &fakeSub{}
	tb.attach(0, sub)
	synctest.Wait()
	h.take()
	return tb, sub, h
}

func (t *bucketTable) name(topic string) string {
	n, _ := t.routes.channel(t.routes.route(topic))
	return n
}

func TestBucketTableSubscribeAwaitLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb, sub, host := newTestTable(t, time.Second)
		b := tb.routes.route("room")
		tb.interest("room", true)
		awaited := make(chan error, 1)
		go func() { awaited <- tb.await(context.Background(), b) }()
		synctest.Wait()
		if got, want := sub.take(), []string{"SUBSCRIBE " + tb.name("room")}; !slices.Equal(got, want) {
			t.Fatalf("commands %q, want %q", got, want)
		}
		select {
		case err := <-awaited:
			t.Fatalf("await returned %v before the confirmation", err)
		default:
		}
		tb.confirmed(b, true)
		if err := <-awaited; err != nil {
			t.Fatal(err)
		}
		if err := tb.await(context.Background(), b); err != nil { // effective: at once
			t.Fatal(err)
		}

		tb.interest("room", false)
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if got := sub.take(); len(got) != 0 {
			t.Fatalf("commands within the linger: %q", got)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if got, want := sub.take(), []string{"UNSUBSCRIBE " + tb.name("room")}; !slices.Equal(got, want) {
			t.Fatalf("commands after the linger %q, want %q", got, want)
		}
		tb.confirmed(b, false)
		if got := host.take(); !slices.Equal(got, []int{b}) {
			t.Errorf("ForgetRoute calls %v, want [%d]", got, b)
		}
		if held, eff, pend := tb.routeStats(); held+eff+pend != 0 || len(tb.table) != 0 {
			t.Errorf("after unsubscribing: held %d effective %d pending %d, %d buckets kept", held, eff, pend, len(tb.table))
		}
	})
}

// A topic that comes back within the linger keeps the bucket; one that comes back while the
// UNSUBSCRIBE is on its way subscribes it again once Redis has answered.
func TestBucketTableRejoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb, sub, _ := newTestTable(t, time.Second)
		b := tb.routes.route("room")
		tb.interest("room", true)
		synctest.Wait()
		sub.take()
		tb.confirmed(b, true)
		tb.interest("room", false)
		time.Sleep(500 * time.Millisecond)
		tb.interest("room", true)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := sub.take(); len(got) != 0 {
			t.Fatalf("commands for a topic back within the linger: %q", got)
		}
		tb.interest("room", false)
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		if got := sub.take(); len(got) != 1 {
			t.Fatalf("commands after the linger: %q", got)
		}
		tb.interest("room", true) // the UNSUBSCRIBE is unanswered: SUBSCRIBE follows it (Redis answers in order)
		awaited := make(chan error, 1)
		go func() { awaited <- tb.await(context.Background(), b) }()
		synctest.Wait()
		if got, want := sub.take(), []string{"SUBSCRIBE " + tb.name("room")}; !slices.Equal(got, want) {
			t.Fatalf("commands %q, want %q", got, want)
		}
		tb.confirmed(b, false)
		synctest.Wait()
		select {
		case err := <-awaited:
			t.Fatalf("await returned %v with the SUBSCRIBE unanswered", err)
		default:
		}
		tb.confirmed(b, true)
		if err := <-awaited; err != nil {
			t.Fatal(err)
		}
	})
}

// Many first subscriptions at once go out in few writes; subscribe and unsubscribe churn leaves nothing behind.
func TestBucketTableBatchesAndDoesNotLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb, sub, _ := newTestTable(t, 10*time.Millisecond)
		const n = 5000
		for i := range n {
			tb.interest("t"+strconv.Itoa(i), true)
		}
		synctest.Wait()
		cmds := sub.take()
		channels := 0
		if len(cmds) >= n/10 {
			t.Fatalf("%d writes for %d topics: not batched", len(cmds), n)
		}
		for _, c := range cmds {
			channels += len(splitFields(c)) - 1
		}
		held, _, pending := tb.routeStats()
		if channels != held || pending != held || held > 1024 {
			t.Fatalf("%d channels subscribed for %d buckets held (%d pending)", channels, held, pending)
		}
		for b := range tb.table {
			tb.confirmed(b, true)
		}
		for i := range n {
			tb.interest("t"+strconv.Itoa(i), false)
		}
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		for _, c := range sub.take() {
			if splitFields(c)[0] != "UNSUBSCRIBE" {
				t.Fatalf("unexpected %q", c)
			}
		}
		for b := range tb.table {
			tb.confirmed(b, false)
		}
		if len(tb.table) != 0 {
			t.Errorf("%d buckets kept after every topic left", len(tb.table))
		}
		if tb.lingerAt != len(tb.lingering) {
			t.Errorf("linger queue holds %d entries", len(tb.lingering)-tb.lingerAt)
		}
	})
}

// A new connection subscribes again every bucket a topic holds, forgets the routes, and drops the
// others; a failed write closes the connection.
func TestBucketTableAttachAndFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb, sub, host := newTestTable(t, time.Hour)
		tb.interest("a", true)
		tb.interest("b", true)
		synctest.Wait()
		sub.take()
		tb.confirmed(tb.routes.route("a"), true)
		tb.confirmed(tb.routes.route("b"), true)
		tb.interest("b", false) // lingers: not subscribed again on the new connection

		tb.detach(0)
		next := &fakeSub{}
		tb.attach(0, next)
		synctest.Wait()
		if got, want := next.take(), []string{"SUBSCRIBE " + tb.name("a")}; !slices.Equal(got, want) {
			t.Fatalf("commands on the new connection %q, want %q", got, want)
		}
		if got := host.take(); !slices.Equal(got, []int{-1}) {
			t.Errorf("ForgetRoute calls %v, want [-1]", got)
		}

		next.fail = errors.New("broken pipe")
		tb.interest("c", true)
		synctest.Wait()
		if !next.closed {
			t.Error("a failed command left the connection open")
		}
	})
}

func TestBucketTableClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb, _, _ := newTestTable(t, time.Hour)
		tb.interest("room", true)
		done := make(chan error, 1)
		go func() { done <- tb.await(context.Background(), tb.routes.route("room")) }()
		synctest.Wait()
		tb.close()
		if err := <-done; !errors.Is(err, pubsub.ErrClosed) {
			t.Errorf("await after close: %v", err)
		}
		tb.interest("other", true) // ignored, does not block
	})
}

func splitFields(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestRoutesChannelNames(t *testing.T) {
	cfg, _ := Config{URL: "redis://x", RouteByTopic: true, Buckets: 1 << 18}.withDefaults()
	r := newRoutes(cfg)
	r.chPrefix = newChannels("phx", "app").routePrefix()
	for _, b := range []int{0, 1, 15, 16, 4095, 4096, 1<<18 - 1} {
		name, arg := r.channel(b)
		if arg.(string) != name || r.bucketOf(name) != b {
			t.Errorf("bucket %d: channel %q parses as %d", b, name, r.bucketOf(name))
		}
	}
	if name, _ := r.channel(0x2a); name != "phx:{app}:b:2a" {
		t.Errorf("channel name %q", name)
	}
	for _, bad := range []string{"phx:{app}:b:", "phx:{app}:b:040000", "phx:{app}:b:02a", "phx:{app}:b:2A", "phx:{app}:broadcast", "phx:{other}:b:1", "phx:{app}:b:123456789"} {
		if b := r.bucketOf(bad); b != -1 {
			t.Errorf("bucketOf(%q) = %d, want -1", bad, b)
		}
	}
	if r.route(pubsub.GapTopic) != -1 || r.route("phx_presence:x_shard0") != -1 || r.route("room") < 0 {
		t.Error("reserved and gossip topics must not be routed")
	}
	if allocs := testing.AllocsPerRun(100, func() { r.bucketOf("phx:{app}:b:3ff") }); allocs != 0 {
		t.Errorf("bucketOf allocates %v", allocs)
	}
}

// rawSub.command splits a long list of channels into commands of at most maxChannelsPerCommand, in
// one write.
func TestRawSubCommandSplits(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	s := &rawSub{conn: client}
	channels := make([]string, 2*maxChannelsPerCommand+1)
	for i := range channels {
		channels[i] = "c" + strconv.Itoa(i)
	}
	read := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		read <- b
	}()
	if err := s.command("SUBSCRIBE", channels); err != nil {
		t.Fatal(err)
	}
	client.Close()
	b := <-read
	want := appendCommand(nil, append([]string{"SUBSCRIBE"}, channels[:maxChannelsPerCommand]...)...)
	want = appendCommand(want, append([]string{"SUBSCRIBE"}, channels[maxChannelsPerCommand:2*maxChannelsPerCommand]...)...)
	want = appendCommand(want, "SUBSCRIBE", channels[2*maxChannelsPerCommand])
	if !bytes.Equal(b, want) {
		t.Errorf("wrote %d bytes, want %d", len(b), len(want))
	}
}

// The node-side state of a subscribed bucket (its entry in the table) stays under 200 bytes (the
// routing issue's bound), measured on 100,000 buckets.
func TestBucketStateSize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 buckets")
	}
	synctest.Test(t, func(t *testing.T) {
		tb, sub, _ := newTestTableBuckets(t, time.Hour, 1<<20)
		const n = 100_000
		topics := make([]string, 0, n)
		seen := make(map[int]bool, n)
		for i := 0; len(topics) < n; i++ {
			topic := "t" + strconv.Itoa(i)
			if b := tb.routes.route(topic); !seen[b] {
				seen[b] = true
				topics = append(topics, topic)
			}
		}
		seen = nil
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, topic := range topics {
			tb.interest(topic, true)
		}
		synctest.Wait()
		sub.take()
		tb.mu.Lock()
		tb.dirty = nil // the queue of new buckets is transient: sent and emptied by reconcile
		tb.mu.Unlock()
		for _, topic := range topics {
			tb.confirmed(tb.routes.route(topic), true)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / n
		t.Logf("%.0f bytes per subscribed bucket (%d buckets)", per, len(tb.table))
		if per > 200 {
			t.Errorf("%.0f bytes per subscribed bucket, want at most 200", per)
		}
		runtime.KeepAlive(topics)
	})
}

// Sharded channel names: each partition's hash tag lies in its share of the slots, every bucket's
// channel carries its partition's tag, and crc16 is Redis Cluster's.
func TestShardedRouteNames(t *testing.T) {
	if got := crc16("123456789"); got != 0x31c3 {
		t.Fatalf("crc16 = %#x, want 0x31c3 (CRC-16/XMODEM)", got)
	}
	cfg, _ := Config{URL: "redis://x", RouteByTopic: true, Buckets: 1 << 18, Partitions: 16}.withDefaults()
	r := newRoutes(cfg)
	r.shard("phx", "app", 16)
	for p, prefix := range r.partPrefix {
		open, close := strings.IndexByte(prefix, '{'), strings.IndexByte(prefix, '}')
		slot := int(crc16(prefix[open+1:close])) % clusterSlots
		if slot < p*clusterSlots/16 || slot >= (p+1)*clusterSlots/16 {
			t.Errorf("partition %d: tag %q in slot %d", p, prefix[open+1:close], slot)
		}
	}
	for _, b := range []int{0, 1, 15, 16, 17, 4095, 1<<18 - 1} {
		name, _ := r.channel(b)
		if !strings.HasPrefix(name, r.partPrefix[b%16]) || r.bucketOf(name) != b || r.partition(b) != b%16 {
			t.Errorf("bucket %d: channel %q parses as %d", b, name, r.bucketOf(name))
		}
		other := r.partPrefix[(b+1)%16] + name[strings.LastIndexByte(name, ':')+1:]
		if r.bucketOf(other) != -1 {
			t.Errorf("%q (another partition's tag) parsed as a bucket", other)
		}
	}
	scope := partitionScope{r, r.partition(r.route("room"))}
	if !scope.Affects("room") || scope.Affects("phx_presence:x") || scope.String() == "" {
		t.Errorf("partition scope %v", scope)
	}
}

// More queued buckets than one round takes go out over several rounds; with no connection they wait
// for attach without spinning.
func TestBucketTableLargeBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb, sub, _ := newTestTableBuckets(t, time.Hour, 1<<16)
		tb.detach(0)
		const n = 3 * reconcileBatch
		seen := make(map[int]bool)
		for i := 0; len(seen) < n; i++ {
			topic := "t" + strconv.Itoa(i)
			if b := tb.routes.route(topic); !seen[b] {
				seen[b] = true
				tb.interest(topic, true)
			}
		}
		synctest.Wait() // no connection: nothing sent, and run is idle (a spinning run never lets Wait return)
		if got := sub.take(); len(got) != 0 {
			t.Fatalf("%d commands without a connection", len(got))
		}
		next := &fakeSub{}
		tb.attach(0, next)
		synctest.Wait()
		channels := 0
		for _, c := range next.take() {
			channels += len(splitFields(c)) - 1
		}
		if channels != n {
			t.Fatalf("%d channels subscribed, want %d", channels, n)
		}
	})
}

func TestRoutingConfig(t *testing.T) {
	for _, bad := range []Config{
		{URL: "redis://x", Buckets: 3},
		{URL: "redis://x", Buckets: -1},
		{URL: "redis://x", Buckets: MaxBuckets * 2},
		{URL: "redis://x", Partitions: -1},
		{URL: "redis://x", Partitions: MaxPartitions + 1},
		{URL: "redis://x", Buckets: 8, Partitions: 16},
		{URL: "redis://x", RouteLinger: -time.Second},
		{URL: "redis://x", BroadcastPrefixes: []string{"phx_presence:", ""}},
	} {
		if _, err := bad.withDefaults(); !errors.Is(err, pubsub.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", bad, err)
		}
	}
	c, err := Config{URL: "redis://x"}.withDefaults()
	if err != nil || c.Buckets != DefaultBuckets || c.Partitions != DefaultPartitions || c.RouteLinger != DefaultRouteLinger ||
		!slices.Equal(c.BroadcastPrefixes, DefaultBroadcastPrefixes) {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	prefixes := []string{"gossip:"}
	c, _ = Config{URL: "redis://x", BroadcastPrefixes: prefixes, Buckets: 4}.withDefaults()
	prefixes[0] = "changed"
	if c.BroadcastPrefixes[0] != "gossip:" || c.Partitions != 4 {
		t.Errorf("config %+v: the prefixes must be copied, Partitions at most Buckets", c)
	}
	c, _ = Config{URL: "redis://x", BroadcastPrefixes: []string{}}.withDefaults()
	if len(c.BroadcastPrefixes) != 0 {
		t.Errorf("an empty BroadcastPrefixes became %v", c.BroadcastPrefixes)
	}
}
