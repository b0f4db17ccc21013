package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/phxgo/pubsub"
)

func benchConnectionsUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub bench connections [flags]")
	fmt.Fprintln(w, "\nBench connections simulates a realtime server in process: --clients connections, each a Subscriber")
	fmt.Fprintln(w, "on its own topic (user:N) and on one shared room of --room-size members. It reports the heap per")
	fmt.Fprintln(w, "connection, then broadcasts to one room for --duration and reports the fan-out latency (broadcast")
	fmt.Fprintln(w, "to each member's receipt, p50 and p99, and to the last member's) and the CPU time per delivered")
	fmt.Fprintln(w, "message, then the same for one message to every connection's own topic. Each figure is printed")
	fmt.Fprintln(w, "next to its floor, measured in the same run: a preallocated 256-message channel per connection (the")
	fmt.Fprintln(w, "mailbox before it grew on demand), and a loop of channel sends to --room-size goroutines.")
	fmt.Fprintln(w, "With --mode handler a connection is a Subscriber with a handler (WithHandler: no goroutine while")
	fmt.Fprintln(w, "idle); with --mode reader each connection has a goroutine reading C, as a websocket writer would.")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nExamples:\n  pubsub bench connections\n  pubsub bench connections --clients 1000000 --mode reader")
}

// connConfig is the flags of "pubsub bench connections".
type connConfig struct {
	clients  int
	roomSize int
	duration time.Duration
	reader   bool // --mode reader
}

// runBenchConnections is "pubsub bench connections".
func runBenchConnections(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pubsub bench connections", flag.ContinueOnError)
	var cfg connConfig
	fs.IntVar(&cfg.clients, "clients", 100_000, "`count` of simulated connections")
	fs.IntVar(&cfg.roomSize, "room-size", 10_000, "`members` of each shared room")
	fs.DurationVar(&cfg.duration, "duration", 2*time.Second, "broadcast to a room for this `long`")
	mode := fs.String("mode", "handler", "how a connection receives: `handler` or reader")
	if code, ok := parseFlags(fs, args, stdout, stderr, benchConnectionsUsage); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError(stderr, fs, "unexpected argument %q", fs.Arg(0))
	case cfg.clients < 1 || cfg.clients > 10_000_000:
		return usageError(stderr, fs, "-clients %d is outside 1..10000000", cfg.clients)
	case cfg.roomSize < 1 || cfg.roomSize > cfg.clients:
		return usageError(stderr, fs, "-room-size %d is outside 1..%d (the clients)", cfg.roomSize, cfg.clients)
	case cfg.duration < time.Millisecond || cfg.duration > 10*time.Minute:
		return usageError(stderr, fs, "-duration %v is outside 1ms..10m", cfg.duration)
	case *mode != "handler" && *mode != "reader":
		return usageError(stderr, fs, "-mode %q is neither handler nor reader", *mode)
	}
	cfg.reader = *mode == "reader"
	if err := benchConnections(ctx, cfg, stdout); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "pubsub bench connections: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// sentAt is the payload of the bench: when it was broadcast.
type sentAt struct{ ns int64 }

// latencies collects delivery latencies, in nanoseconds, from many goroutines.
type latencies struct {
	mu      sync.Mutex
	all     []int64
	pending atomic.Int64 // deliveries awaited for the current broadcast
	done    chan struct{}
	last    atomic.Int64 // latency of the last delivery of the current broadcast
}

func (l *latencies) record(m pubsub.Message) {
	s, ok := m.Payload.(sentAt)
	if !ok {
		return
	}
	d := time.Now().UnixNano() - s.ns
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
	if l.pending.Add(-1) == 0 {
		l.last.Store(d)
		l.done <- struct{}{}
	}
}

// connection is one simulated client.
type connection struct {
	sub  *pubsub.Subscriber
	done chan struct{} // reader mode: its goroutine ended
}

func benchConnections(ctx context.Context, cfg connConfig, w io.Writer) error {
	mode := "handler"
	if cfg.reader {
		mode = "reader"
	}
	rooms := (cfg.clients + cfg.roomSize - 1) / cfg.roomSize
	fmt.Fprintf(w, "Connections: %d clients, each on its own topic and one of %d rooms of up to %d (%s, GOMAXPROCS=%d, --mode %s)\n",
		cfg.clients, rooms, cfg.roomSize, runtime.Version(), runtime.GOMAXPROCS(0), mode)

	// Heap per connection, and its floor.
	lat := &latencies{done: make(chan struct{}, 1)}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "bench"})
	if err != nil {
		return err
	}
	defer ps.Close()
	users := topicNames("user:", cfg.clients)
	heap0, stack0 := memNow()
	conns := make([]connection, cfg.clients)
	for i := range conns {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := newConnection(ps, cfg.reader, lat)
		if err != nil {
			return err
		}
		conns[i] = c
		if err := c.sub.Subscribe(users[i]); err != nil {
			return err
		}
		if err := c.sub.Subscribe("room:" + strconv.Itoa(i/cfg.roomSize)); err != nil {
			return err
		}
	}
	heap1, stack1 := memNow()
	perConn := float64(heap1-heap0+stack1-stack0) / float64(cfg.clients)
	floorConn, err := floorConnections(cfg.clients)
	if err != nil {
		return err
	}

	// Fan-out to a room, and its floor.
	roomLat, roomLast, roomCPU, err := fanoutRounds(ctx, cfg.duration, lat, cfg.roomSize, func(p sentAt) error {
		return ps.Broadcast(ctx, "room:0", p)
	})
	if err != nil {
		return fmt.Errorf("room fan-out: %w", err)
	}
	floorLat, floorLast, floorCPU, err := floorFanoutRounds(ctx, cfg.duration, cfg.roomSize)
	if err != nil {
		return fmt.Errorf("room fan-out floor: %w", err)
	}

	// One message to every connection's own topic.
	lat.all = lat.all[:0]
	lat.pending.Store(int64(cfg.clients))
	cpu0, t0 := cpuNow(), time.Now()
	for _, u := range users {
		if err := ps.Broadcast(ctx, u, sentAt{time.Now().UnixNano()}); err != nil {
			return err
		}
	}
	if err := waitDone(ctx, lat); err != nil {
		return fmt.Errorf("user topics: %w", err)
	}
	userCPU := float64(cpuNow()-cpu0) / float64(cfg.clients)
	userWall := time.Since(t0)
	userLat := percentiles(lat.all)
	for _, c := range conns {
		if d := c.sub.Dropped(); d != 0 {
			return fmt.Errorf("a connection dropped %d messages", d)
		}
	}
	for _, c := range conns {
		c.sub.Close()
		if c.done != nil {
			<-c.done
		}
	}

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tPUBSUB\tFLOOR")
	fmt.Fprintf(tw, "heap per connection (mailbox, 2 subscriptions%s)\t%.0f B\t%.0f B\n", map[bool]string{true: ", reader goroutine", false: ""}[cfg.reader], perConn, floorConn)
	fmt.Fprintf(tw, "room fan-out to %d: delivery latency p50 / p99\t%s / %s\t%s / %s\n", cfg.roomSize, fmtNs(roomLat[0]), fmtNs(roomLat[1]), fmtNs(floorLat[0]), fmtNs(floorLat[1]))
	fmt.Fprintf(tw, "room fan-out to %d: last delivery p50 / p99\t%s / %s\t%s / %s\n", cfg.roomSize, fmtNs(roomLast[0]), fmtNs(roomLast[1]), fmtNs(floorLast[0]), fmtNs(floorLast[1]))
	fmt.Fprintf(tw, "room fan-out: CPU per delivered message\t%s\t%s\n", fmtNs(roomCPU), fmtNs(floorCPU))
	fmt.Fprintf(tw, "one message to each of %d own topics: CPU per message\t%s\t\n", cfg.clients, fmtNs(userCPU))
	fmt.Fprintf(tw, "one message to each own topic: delivery latency p50 / p99\t%s / %s\t\n", fmtNs(userLat[0]), fmtNs(userLat[1]))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "Own topics broadcast in %v. Floors: a make(chan pubsub.Message, 256) per connection; a loop of\n", userWall.Round(time.Millisecond))
	fmt.Fprintln(w, "non-blocking sends to channels of 256, each read by a goroutine of its own. CPU is the process's")
	fmt.Fprintln(w, "user + system time (getrusage) over the deliveries.")
	return nil
}

// newConnection makes one simulated client that records the latency of what it receives.
func newConnection(ps *pubsub.PubSub, reader bool, lat *latencies) (connection, error) {
	if !reader {
		sub, err := ps.NewSubscriber(pubsub.WithHandler(lat.record))
		return connection{sub: sub}, err
	}
	sub, err := ps.NewSubscriber()
	if err != nil {
		return connection{}, err
	}
	c := connection{sub: sub, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for m := range sub.C() {
			lat.record(m)
		}
	}()
	return c, nil
}

// fanoutRounds broadcasts with send, one broadcast at a time, each waiting for its members deliveries,
// for d. It returns the p50 and p99 of every delivery's latency and of each broadcast's last one, and
// the CPU time per delivery.
func fanoutRounds(ctx context.Context, d time.Duration, lat *latencies, members int, send func(sentAt) error) (all, last [2]float64, cpu float64, err error) {
	lat.all = lat.all[:0]
	var lasts []int64
	cpu0 := cpuNow()
	start := time.Now()
	rounds := 0
	for rounds == 0 || time.Since(start) < d {
		lat.pending.Store(int64(members))
		if err := send(sentAt{time.Now().UnixNano()}); err != nil {
			return all, last, 0, err
		}
		if err := waitDone(ctx, lat); err != nil {
			return all, last, 0, err
		}
		lasts = append(lasts, lat.last.Load())
		rounds++
	}
	cpu = float64(cpuNow()-cpu0) / float64(rounds*members)
	return percentiles(lat.all), percentiles(lasts), cpu, nil
}

// waitDone waits for the current broadcast's deliveries, at most a minute.
func waitDone(ctx context.Context, lat *latencies) error {
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case <-lat.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("%d deliveries missing after a minute", lat.pending.Load())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// floorFanoutRounds is fanoutRounds over plain channels: members goroutines, each reading its own
// channel of 256, and a loop of non-blocking sends.
func floorFanoutRounds(ctx context.Context, d time.Duration, members int) (all, last [2]float64, cpu float64, err error) {
	lat := &latencies{done: make(chan struct{}, 1)}
	chans := make([]chan pubsub.Message, members)
	var wg sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan pubsub.Message, 256)
		wg.Go(func() {
			for m := range chans[i] {
				lat.record(m)
			}
		})
	}
	defer func() {
		for _, ch := range chans {
			close(ch)
		}
		wg.Wait()
	}()
	return fanoutRounds(ctx, d, lat, members, func(p sentAt) error {
		m := pubsub.Message{Topic: "room:0", Payload: p}
		for _, ch := range chans {
			select {
			case ch <- m:
			default:
				return errors.New("a floor channel is full")
			}
		}
		return nil
	})
}

// floorConnections returns the heap of the old mailbox: a 256-message channel per connection.
func floorConnections(n int) (float64, error) {
	heap0, _ := memNow()
	chans := make([]chan pubsub.Message, n)
	for i := range chans {
		chans[i] = make(chan pubsub.Message, pubsub.DefaultMailboxSize)
	}
	heap1, _ := memNow()
	runtime.KeepAlive(chans)
	return float64(heap1-heap0) / float64(n), nil
}

// percentiles returns the p50 and p99 of v, in nanoseconds.
func percentiles(v []int64) [2]float64 {
	if len(v) == 0 {
		return [2]float64{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[min(len(s)-1, int(q*float64(len(s))))]) }
	return [2]float64{at(0.50), at(0.99)}
}

// memNow returns the live heap and the goroutine stacks in use, after a collection.
func memNow() (heap, stack uint64) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

// cpuNow returns the process's user and system CPU time so far, in nanoseconds.
func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
