package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
)

const (
	// benchWindow bounds the messages in flight (sent, not yet received) on the Redis path, so that the
	// figures are what the receiver sustains, and a receiver that falls behind never reaches Redis's
	// client-output-buffer-limit (which would disconnect it).
	benchWindow = 20_000
	// benchDrain bounds the wait for the last messages after a case, measured from the last progress.
	benchDrain = 5 * time.Second
)

// redisRow is one throughput row of the Redis table.
type redisRow struct {
	name      string
	rate      float64 // msg/s received
	sent, got int64
}

// benchRedis measures the Redis path and prints its tables.
func benchRedis(ctx context.Context, cfg benchConfig, target *redisTarget, w io.Writer) error {
	rdb := target.client()
	defer rdb.Close()
	name := "bench-" + randomHex(3) // a PubSub (and channels) of its own on a shared Redis
	fmt.Fprintf(w, "Redis path: Redis at %s, %d broadcasters, %d-byte payloads, %v per measurement\n", target.addr(), cfg.broadcasters, cfg.payload, cfg.duration)

	raw := newChannelNames("phxbench", name).broadcast()
	base, err := rawThroughput(ctx, rdb, raw, cfg)
	if err != nil {
		return fmt.Errorf("raw go-redis baseline: %w", err)
	}
	a, _, err := target.startNode(nodeConfig{pubsubName: name, nodeName: "bench-a"})
	if err != nil {
		return fmt.Errorf("%w: %v", errJoin, err)
	}
	defer a.Close()
	b, _, err := target.startNode(nodeConfig{pubsubName: name, nodeName: "bench-b"})
	if err != nil {
		return fmt.Errorf("%w: %v", errJoin, err)
	}
	defer b.Close()
	sub, err := b.NewSubscriber(pubsub.WithMailboxSize(benchWindow + 1024))
	if err != nil {
		return err
	}
	if err := sub.Subscribe("bench"); err != nil {
		return err
	}
	adapter, err := adapterThroughput(ctx, a, sub, cfg)
	if err != nil {
		return fmt.Errorf("node A → node B: %w", err)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "CASE\tTHROUGHPUT\tVS BASELINE\tLOST")
	for _, r := range []redisRow{base, adapter} {
		fmt.Fprintf(tw, "%s\t%s msg/s\t%.2f×\t%d\n", r.name, fmtCount(r.rate), r.rate/base.rate, r.sent-r.got)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	period := 3 * cfg.duration
	rawLat, err := rawLatency(ctx, rdb, raw+":latency", cfg, period)
	if err != nil {
		return fmt.Errorf("raw go-redis latency: %w", err)
	}
	adapterLat, err := adapterLatency(ctx, a, sub, cfg, period)
	if err != nil {
		return fmt.Errorf("node A → node B latency: %w", err)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "LATENCY AT %d MSG/S FOR %v\tP50\tP99\tMESSAGES\n", cfg.rate, period)
	for _, l := range []struct {
		name string
		d    []time.Duration
	}{{"raw go-redis: PUBLISH → SUBSCRIBE", rawLat}, {"node A → node B through the adapter", adapterLat}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", l.name, fmtNs(float64(percentile(l.d, 50))), fmtNs(float64(percentile(l.d, 99))), len(l.d))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "The adapter's frames carry an envelope (origin, topic, sequence) besides the payload, and every node")
	fmt.Fprintln(w, "also receives its own broadcasts from Redis (and skips them).")
	return nil
}

// rawThroughput publishes payloads in pipelines of cfg.broadcasters PUBLISH commands, back to back,
// to a channel one SUBSCRIBE connection reads.
func rawThroughput(ctx context.Context, rdb *redis.Client, channel string, cfg benchConfig) (redisRow, error) {
	row := redisRow{name: "raw go-redis: pipelined PUBLISH → SUBSCRIBE"}
	var got, last atomic.Int64
	stop, err := rawSubscriber(ctx, rdb, channel, func(string) {
		got.Add(1)
		last.Store(time.Now().UnixNano())
	})
	if err != nil {
		return row, err
	}
	defer stop()
	payload := benchPayload(cfg.payload)
	pipe := rdb.Pipeline()
	start := time.Now()
	for time.Since(start) < cfg.duration || row.sent == 0 {
		if err := ctx.Err(); err != nil {
			return row, err
		}
		waitWindow(ctx, func() int64 { return row.sent - got.Load() })
		for range cfg.broadcasters {
			pipe.Publish(ctx, channel, payload)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return row, err
		}
		row.sent += int64(cfg.broadcasters)
	}
	row.got = waitReceived(ctx, row.sent, &got)
	row.rate = float64(row.got) / (float64(last.Load()-start.UnixNano()) / 1e9)
	return row, ctx.Err()
}

// adapterThroughput runs cfg.broadcasters goroutines broadcasting on node a for cfg.duration, and
// counts what sub, on node b, receives.
func adapterThroughput(ctx context.Context, a *pubsub.PubSub, sub *pubsub.Subscriber, cfg benchConfig) (redisRow, error) {
	row := redisRow{name: "node A → node B through the adapter"}
	var sent, got, last atomic.Int64
	recvDone := make(chan struct{})
	stopRecv := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			select {
			case <-sub.C():
				got.Add(1)
				last.Store(time.Now().UnixNano())
			case <-stopRecv:
				return
			}
		}
	}()
	payload := benchPayload(cfg.payload)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range cfg.broadcasters {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				waitWindow(ctx, func() int64 { return sent.Load() - got.Load() })
				if err := a.Broadcast(ctx, "bench", payload); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	row.sent = sent.Load()
	row.got = waitReceived(ctx, row.sent, &got)
	close(stopRecv)
	<-recvDone
	if firstErr != nil && ctx.Err() == nil {
		return row, firstErr
	}
	if row.got > 0 {
		row.rate = float64(row.got) / (float64(last.Load()-start.UnixNano()) / 1e9)
	}
	return row, ctx.Err()
}

// rawLatency publishes one timestamped payload every 1/cfg.rate seconds for period, with plain
// PUBLISH commands, and returns the latency of each message received.
func rawLatency(ctx context.Context, rdb *redis.Client, channel string, cfg benchConfig, period time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	stop, err := rawSubscriber(ctx, rdb, channel, func(p string) {
		d := sinceStamp(p)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	sent, err := paced(ctx, cfg, period, func(p []byte) error { return rdb.Publish(ctx, channel, p).Err() })
	if err != nil {
		stop()
		return nil, err
	}
	waitCount(ctx, int(sent), func() int { mu.Lock(); defer mu.Unlock(); return len(lat) })
	stop()
	mu.Lock()
	defer mu.Unlock()
	return lat, nil
}

// adapterLatency broadcasts one timestamped payload every 1/cfg.rate seconds for period on node a and
// returns the latency of each message sub receives on node b.
func adapterLatency(ctx context.Context, a *pubsub.PubSub, sub *pubsub.Subscriber, cfg benchConfig, period time.Duration) ([]time.Duration, error) {
	drainSubs([]*pubsub.Subscriber{sub})
	var mu sync.Mutex
	var lat []time.Duration
	stopRecv, recvDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			select {
			case msg := <-sub.C():
				if p, ok := msg.Payload.([]byte); ok {
					d := sinceStamp(string(p))
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			case <-stopRecv:
				return
			}
		}
	}()
	sent, err := paced(ctx, cfg, period, func(p []byte) error { return a.Broadcast(ctx, "bench", p) })
	if err == nil {
		waitCount(ctx, int(sent), func() int { mu.Lock(); defer mu.Unlock(); return len(lat) })
	}
	close(stopRecv)
	<-recvDone
	mu.Lock()
	defer mu.Unlock()
	return lat, err
}

// paced calls send with a fresh timestamped payload every 1/cfg.rate seconds for period, and returns
// how many it sent.
func paced(ctx context.Context, cfg benchConfig, period time.Duration, send func([]byte) error) (int64, error) {
	interval := time.Second / time.Duration(cfg.rate)
	start := time.Now()
	var n int64
	for next := start; next.Sub(start) < period; next = next.Add(interval) {
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return n, ctx.Err()
			}
		}
		p := benchPayload(cfg.payload)
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		if err := send(p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// rawSubscriber subscribes a plain go-redis connection to channel and calls handle with each message
// on a goroutine of its own, until stop is called.
func rawSubscriber(ctx context.Context, rdb *redis.Client, channel string, handle func(payload string)) (stop func(), err error) {
	sub := rdb.Subscribe(ctx, channel)
	for confirmed := false; !confirmed; {
		msg, err := sub.ReceiveTimeout(ctx, pingTimeout)
		if err != nil {
			sub.Close()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		_, confirmed = msg.(*redis.Subscription)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := sub.Receive(context.Background())
			if err != nil {
				if errors.Is(err, redis.ErrClosed) {
					return
				}
				continue // go-redis reconnects on the next call; what was lost shows as LOST
			}
			if m, ok := msg.(*redis.Message); ok {
				handle(m.Payload)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			sub.Close()
			<-done
		})
	}, nil
}

// waitWindow waits while more than benchWindow messages are in flight.
func waitWindow(ctx context.Context, inFlight func() int64) {
	for inFlight() > benchWindow && ctx.Err() == nil {
		time.Sleep(100 * time.Microsecond)
	}
}

// waitReceived waits until got reaches sent, or until it has not moved for benchDrain, and returns it.
func waitReceived(ctx context.Context, sent int64, got *atomic.Int64) int64 {
	waitCount(ctx, int(sent), func() int { return int(got.Load()) })
	return got.Load()
}

// waitCount waits until count() reaches want, or has not moved for benchDrain.
func waitCount(ctx context.Context, want int, count func() int) {
	last, since := -1, time.Now()
	for ctx.Err() == nil {
		n := count()
		if n >= want {
			return
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > benchDrain {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func benchPayload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = 'x'
	}
	return p
}

// sinceStamp returns the time since the timestamp in the first 8 bytes of p.
func sinceStamp(p string) time.Duration {
	if len(p) < 8 {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - int64(binary.BigEndian.Uint64([]byte(p[:8]))))
}

// percentile returns the p-th percentile of d (nearest rank), 0 for none.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
