package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/phxgo/pubsub"
)

func benchUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub bench [flags]\n  pubsub bench connections [flags]   (see pubsub bench connections --help)")
	fmt.Fprintln(w, "\nBench measures this machine and prints a table. The local path (one node, no adapter) is")
	fmt.Fprintln(w, "always measured, each case next to its floor: the same work done with plain Go channels and maps,")
	fmt.Fprintln(w, "in the same run. With --redis it also measures the Redis path: raw go-redis pipelined PUBLISH to")
	fmt.Fprintln(w, "a SUBSCRIBE connection (the baseline), then node A to node B through the Redis adapter with")
	fmt.Fprintln(w, "concurrent broadcasters, then the latency of both at a steady rate. Use an idle Redis.")
	fmt.Fprintln(w, "The local path takes about 9 × --duration plus set-up; the Redis path 8 × --duration more.")
	fmt.Fprintln(w, "For figures to compare across versions, use the benchmarks (go test -bench, docs/benchmarks.md).")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nExamples:\n  pubsub bench\n  pubsub bench --redis redis://localhost:6379/0 --broadcasters 128")
}

// benchConfig is the flags of "pubsub bench".
type benchConfig struct {
	duration     time.Duration
	broadcasters int
	payload      int
	rate         int
}

// runBench is "pubsub bench".
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "connections" {
		return runBenchConnections(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("pubsub bench", flag.ContinueOnError)
	var cfg benchConfig
	fs.DurationVar(&cfg.duration, "duration", time.Second, "measure each case for this `long` (the latency cases for 3 times as long)")
	redisURL := fs.String("redis", "", "also measure the Redis path, on the Redis at `URL`")
	fs.IntVar(&cfg.broadcasters, "broadcasters", 64, "`count` of concurrent broadcasters on node A (Redis path)")
	fs.IntVar(&cfg.payload, "payload", 100, "payload `size` in bytes (Redis path; at least 8)")
	fs.IntVar(&cfg.rate, "rate", 500, "messages per second of the latency cases (Redis path)")
	if code, ok := parseFlags(fs, args, stdout, stderr, benchUsage); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError(stderr, fs, "unexpected argument %q", fs.Arg(0))
	case cfg.duration < time.Millisecond || cfg.duration > 10*time.Minute:
		return usageError(stderr, fs, "-duration %v is outside 1ms..10m", cfg.duration)
	case cfg.broadcasters < 1 || cfg.broadcasters > 10_000:
		return usageError(stderr, fs, "-broadcasters %d is outside 1..10000", cfg.broadcasters)
	case cfg.payload < 8 || cfg.payload > 512<<10:
		return usageError(stderr, fs, "-payload %d is outside 8..524288", cfg.payload)
	case cfg.rate < 1 || cfg.rate > 100_000:
		return usageError(stderr, fs, "-rate %d is outside 1..100000", cfg.rate)
	}
	var target *redisTarget
	if *redisURL != "" {
		t, err := parseRedisURL(*redisURL)
		if err != nil {
			return usageError(stderr, fs, "%v", err)
		}
		if code := t.reach(ctx, stderr, "bench", exitFailure); code != exitOK { // before the local path, not a minute later
			return code
		}
		target = t
	}

	if err := benchLocal(ctx, cfg, stdout); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "pubsub bench: %v\n", err)
		return exitFailure
	}
	if target != nil {
		fmt.Fprintln(stdout)
		if err := benchRedis(ctx, cfg, target, stdout); err != nil {
			if ctx.Err() != nil {
				err = errors.New("interrupted")
			}
			fmt.Fprintf(stderr, "pubsub bench: %v\n", err)
			if errors.Is(err, errJoin) {
				return exitUsage
			}
			return exitFailure
		}
	}
	return exitOK
}

// localCase is one row of the local table: the cost of one operation through the PubSub and on the
// floor, in nanoseconds.
type localCase struct {
	name          string
	pubsub, floor float64 // ns per operation
	show          func(ns float64) string
}

// benchLocal measures the local path and prints its table.
func benchLocal(ctx context.Context, cfg benchConfig, w io.Writer) error {
	fmt.Fprintf(w, "Local path: one node, no adapter (%s, GOMAXPROCS=%d, %v per measurement)\n", runtime.Version(), runtime.GOMAXPROCS(0), cfg.duration)
	perSecond := func(unit string) func(float64) string {
		return func(ns float64) string { return fmtCount(1e9/ns) + " " + unit }
	}
	cases := []struct {
		name   string
		show   func(float64) string
		pubsub func(context.Context, time.Duration) (float64, error)
		floor  func(context.Context, time.Duration) (float64, error)
	}{
		{"broadcast to 1 subscriber, end to end", perSecond("msg/s"), benchOneSubscriber, floorOneSubscriber},
		{"fan-out to 10 000 subscribers", func(ns float64) string { return fmtNs(ns) + "/broadcast" }, benchFanout, floorFanout},
		{"100 000 topics, 1 subscriber each", perSecond("deliveries/s"), benchTopics, floorTopics},
		{"subscribe + unsubscribe, holding 100 000", func(ns float64) string { return fmtNs(ns) + "/pair" }, benchSubscribe, floorSubscribe},
	}
	var rows []localCase
	for _, c := range cases {
		ps, err := c.pubsub(ctx, cfg.duration)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		runtime.GC()
		fl, err := c.floor(ctx, cfg.duration)
		if err != nil {
			return fmt.Errorf("%s (floor): %w", c.name, err)
		}
		runtime.GC()
		rows = append(rows, localCase{name: c.name, pubsub: ps, floor: fl, show: c.show})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "CASE\tPUBSUB\tFLOOR\tCOST VS FLOOR")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f×\n", r.name, r.show(r.pubsub), r.show(r.floor), r.pubsub/r.floor)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Floors: a buffered channel between two goroutines; a non-blocking send to each of 10 000 channels;")
	fmt.Fprintln(w, "a map lookup and a non-blocking send; a map insert and delete under a mutex.")
	return nil
}

// measure runs round (which returns how many operations it did) until d of work has been timed;
// reset, when not nil, runs untimed before each round. It returns the cost of one operation in ns.
func measure(ctx context.Context, d time.Duration, reset func(), round func() int) (float64, error) {
	var elapsed time.Duration
	ops := 0
	for elapsed < d || ops == 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if reset != nil {
			reset()
		}
		start := time.Now()
		ops += round()
		elapsed += time.Since(start)
	}
	return float64(elapsed.Nanoseconds()) / float64(ops), nil
}

// endToEnd calls send for d while another goroutine runs receive, and returns the cost of one message,
// from the first send to the last receipt. finish ends the stream; receive returns how many it got.
func endToEnd(ctx context.Context, d time.Duration, send func(), finish func(), receive func() int) (float64, error) {
	got := make(chan int, 1)
	go func() { got <- receive() }()
	start := time.Now()
	sent := 0
	for sent == 0 || time.Since(start) < d {
		if ctx.Err() != nil {
			break
		}
		for range 256 {
			send()
		}
		sent += 256
	}
	finish()
	n := <-got
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if n != sent {
		return 0, fmt.Errorf("received %d of %d messages", n, sent)
	}
	return float64(elapsed.Nanoseconds()) / float64(n), nil
}

func newLocalPubSub() (*pubsub.PubSub, error) {
	return pubsub.New(context.Background(), pubsub.Config{Name: "bench"})
}

func benchOneSubscriber(ctx context.Context, d time.Duration) (float64, error) {
	ps, err := newLocalPubSub()
	if err != nil {
		return 0, err
	}
	defer ps.Close()
	sub, err := ps.NewSubscriber(pubsub.WithMailboxSize(4096))
	if err != nil {
		return 0, err
	}
	if err := sub.Subscribe("t"); err != nil {
		return 0, err
	}
	var payload any = "preallocated"
	return endToEnd(ctx, d,
		func() {
			for sub.Len() == sub.Cap() { // wait for room rather than drop: count deliveries only
				runtime.Gosched()
			}
			ps.Broadcast(ctx, "t", payload)
		},
		func() { sub.Close() }, // the mailbox yields what it holds, then ends
		func() int {
			n := 0
			for range sub.C() {
				n++
			}
			return n
		})
}

func floorOneSubscriber(ctx context.Context, d time.Duration) (float64, error) {
	ch := make(chan pubsub.Message, 4096)
	msg := pubsub.Message{Topic: "t", Payload: "preallocated"}
	return endToEnd(ctx, d,
		func() { ch <- msg },
		func() { close(ch) },
		func() int {
			n := 0
			for range ch {
				n++
			}
			return n
		})
}

const (
	fanout      = 10_000
	fanoutBox   = 64 // mailbox size: broadcasts per round, drained between rounds
	manyTopics  = 100_000
	heldTopics  = 100_000
	cyclesRound = 1000
)

func benchFanout(ctx context.Context, d time.Duration) (float64, error) {
	ps, err := newLocalPubSub()
	if err != nil {
		return 0, err
	}
	defer ps.Close()
	subs := make([]*pubsub.Subscriber, fanout)
	for i := range subs {
		if subs[i], err = ps.NewSubscriber(pubsub.WithMailboxSize(fanoutBox)); err != nil {
			return 0, err
		}
		if err := subs[i].Subscribe("room"); err != nil {
			return 0, err
		}
	}
	var payload any = "preallocated"
	ns, err := measure(ctx, d, func() { drainSubs(subs) }, func() int {
		for range fanoutBox {
			ps.Broadcast(ctx, "room", payload)
		}
		return fanoutBox
	})
	for _, s := range subs {
		if s.Dropped() != 0 {
			return 0, fmt.Errorf("a subscriber dropped %d messages", s.Dropped())
		}
	}
	return ns, err
}

func floorFanout(ctx context.Context, d time.Duration) (float64, error) {
	chans := make([]chan pubsub.Message, fanout)
	for i := range chans {
		chans[i] = make(chan pubsub.Message, fanoutBox)
	}
	msg := pubsub.Message{Topic: "room", Payload: "preallocated"}
	return measure(ctx, d, func() { drainChans(chans) }, func() int {
		for range fanoutBox {
			for _, ch := range chans {
				select {
				case ch <- msg:
				default:
				}
			}
		}
		return fanoutBox
	})
}

func benchTopics(ctx context.Context, d time.Duration) (float64, error) {
	ps, err := newLocalPubSub()
	if err != nil {
		return 0, err
	}
	defer ps.Close()
	subs := make([]*pubsub.Subscriber, manyTopics)
	topics := topicNames("topic:", manyTopics)
	for i := range subs {
		if subs[i], err = ps.NewSubscriber(pubsub.WithMailboxSize(2)); err != nil {
			return 0, err
		}
		if err := subs[i].Subscribe(topics[i]); err != nil {
			return 0, err
		}
	}
	var payload any = "preallocated"
	ns, err := measure(ctx, d, func() { drainSubs(subs) }, func() int {
		for range 2 {
			for _, t := range topics {
				ps.Broadcast(ctx, t, payload)
			}
		}
		return 2 * manyTopics
	})
	for _, s := range subs {
		if s.Dropped() != 0 {
			return 0, fmt.Errorf("a subscriber dropped %d messages", s.Dropped())
		}
	}
	return ns, err
}

func floorTopics(ctx context.Context, d time.Duration) (float64, error) {
	topics := topicNames("topic:", manyTopics)
	byTopic := make(map[string]chan pubsub.Message, manyTopics)
	chans := make([]chan pubsub.Message, manyTopics)
	for i, t := range topics {
		chans[i] = make(chan pubsub.Message, 2)
		byTopic[t] = chans[i]
	}
	return measure(ctx, d, func() { drainChans(chans) }, func() int {
		for range 2 {
			for _, t := range topics {
				select {
				case byTopic[t] <- pubsub.Message{Topic: t, Payload: "preallocated"}:
				default:
				}
			}
		}
		return 2 * manyTopics
	})
}

func benchSubscribe(ctx context.Context, d time.Duration) (float64, error) {
	ps, err := newLocalPubSub()
	if err != nil {
		return 0, err
	}
	defer ps.Close()
	s, err := ps.NewSubscriber()
	if err != nil {
		return 0, err
	}
	for _, t := range topicNames("held:", heldTopics) {
		if err := s.Subscribe(t); err != nil {
			return 0, err
		}
	}
	other, err := ps.NewSubscriber()
	if err != nil {
		return 0, err
	}
	if err := other.Subscribe("room"); err != nil { // the topic outlives the cycle
		return 0, err
	}
	return measure(ctx, d, nil, func() int {
		for range cyclesRound {
			s.Subscribe("room")
			s.Unsubscribe("room")
		}
		return cyclesRound
	})
}

func floorSubscribe(ctx context.Context, d time.Duration) (float64, error) {
	var mu sync.Mutex
	held := make(map[string]struct{}, heldTopics+1)
	for _, t := range topicNames("held:", heldTopics) {
		held[t] = struct{}{}
	}
	return measure(ctx, d, nil, func() int {
		for range cyclesRound {
			mu.Lock()
			held["room"] = struct{}{}
			mu.Unlock()
			mu.Lock()
			delete(held, "room")
			mu.Unlock()
		}
		return cyclesRound
	})
}

func drainSubs(subs []*pubsub.Subscriber) {
	for _, s := range subs {
		for _, ok := s.TryReceive(); ok; _, ok = s.TryReceive() {
		}
	}
}

func drainChans(chans []chan pubsub.Message) {
	for _, ch := range chans {
		for len(ch) > 0 {
			<-ch
		}
	}
}

func topicNames(prefix string, n int) []string {
	t := make([]string, n)
	for i := range t {
		t[i] = prefix + strconv.Itoa(i)
	}
	return t
}

// fmtCount formats a count per second: "950", "312 k", "4.12 M".
func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0f k", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// fmtNs formats a duration given in nanoseconds: "85 ns", "1.2 µs", "850 µs", "1.20 ms".
func fmtNs(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.0f µs", ns/1e3)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}
