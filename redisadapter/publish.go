package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub/internal/wire"
)

// ErrTooLarge is returned by a broadcast whose frame exceeds Config.MaxMessageSize.
var ErrTooLarge = errors.New("redisadapter: message too large")

// publishTimeout bounds one pipeline round trip when the caller's context has no deadline.
const publishTimeout = 10 * time.Second

// request is one frame waiting for the publisher. The broadcaster that made it waits for done, so the
// frame needs no copy: it belongs to the broadcaster's buffer until done is signalled.
type request struct {
	channel string
	target  string // node name, for the per-target sequence of direct frames
	frame   []byte
	state   atomic.Int32 // queued → taken by the publisher, or queued → abandoned by its caller
	done    chan error   // capacity 1
}

const (
	queued int32 = iota
	taken
	abandoned
)

var requests = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// publisher sends frames through one goroutine, in batches: every frame queued while a pipeline is in
// flight goes into the next one (group commit). One goroutine and one pipeline at a time keep this
// node's frames in the order they were queued, on every channel.
type publisher struct {
	client   redis.UniversalClient
	maxBatch int
	secret   []byte
	stats    *counters

	mu      sync.Mutex
	queue   []*request
	wake    chan struct{}
	closing chan struct{}
	stopped chan struct{}

	// Owned by the publisher goroutine.
	broadcastSeq uint64
	directSeq    map[string]uint64
}

func newPublisher(client redis.UniversalClient, maxBatch int, secret []byte, stats *counters) *publisher {
	p := &publisher{
		client:    client,
		maxBatch:  maxBatch,
		secret:    secret,
		stats:     stats,
		wake:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		stopped:   make(chan struct{}),
		directSeq: make(map[string]uint64),
	}
	go p.run()
	return p
}

var errPublisherClosed = errors.New("redisadapter: closed")

// publish queues frame for channel and waits until Redis has accepted it, or ctx ends first. target is
// the node of a direct frame ("" otherwise). frame is stamped (sequence number, signature) in place.
func (p *publisher) publish(ctx context.Context, channel, target string, frame []byte) error {
	r := requests.Get().(*request)
	r.channel, r.target, r.frame = channel, target, frame
	r.state.Store(queued)
	p.mu.Lock()
	select {
	case <-p.closing:
		p.mu.Unlock()
		requests.Put(r)
		return errPublisherClosed
	default:
	}
	p.queue = append(p.queue, r)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-r.done:
		r.frame = nil
		requests.Put(r)
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err() // the publisher will skip it; r is not reused
		}
		err := <-r.done // already in a pipeline: Redis has it or not, soon
		r.frame = nil
		requests.Put(r)
		return err
	}
}

func (p *publisher) run() {
	defer close(p.stopped)
	pipe := p.client.Pipeline()
	var batch []*request
	cmds := make([]*redis.IntCmd, 0, p.maxBatch)
	for {
		select {
		case <-p.wake:
		case <-p.closing:
			p.failQueued()
			return
		}
		for {
			batch = p.take(batch[:0])
			if len(batch) == 0 {
				break
			}
			cmds = p.send(pipe, batch, cmds[:0])
		}
	}
}

// take moves up to maxBatch queued requests into batch.
func (p *publisher) take(batch []*request) []*request {
	p.mu.Lock()
	n := min(len(p.queue), p.maxBatch)
	batch = append(batch, p.queue[:n]...)
	rest := copy(p.queue, p.queue[n:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	p.mu.Unlock()
	return batch
}

// send publishes one batch in one pipeline and answers every request in it.
func (p *publisher) send(pipe redis.Pipeliner, batch []*request, cmds []*redis.IntCmd) []*redis.IntCmd {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	live := batch[:0]
	for _, r := range batch {
		if !r.state.CompareAndSwap(queued, taken) {
			continue // its caller gave up before we got to it
		}
		r.frame = p.stamp(r)
		cmds = append(cmds, pipe.Publish(ctx, r.channel, r.frame))
		live = append(live, r)
	}
	if len(live) == 0 {
		return cmds
	}
	_, err := pipe.Exec(ctx)
	for i, r := range live {
		e := cmds[i].Err()
		if e == nil && err != nil && !errors.Is(err, redis.Nil) {
			e = err
		}
		if e != nil {
			p.stats.publishErrors.Add(1)
			e = fmt.Errorf("redisadapter: publish: %w", e)
		} else {
			p.stats.published.Add(1)
		}
		r.done <- e
	}
	clear(cmds)
	return cmds
}

// stamp writes the frame's sequence number and, with a secret, its signature. Sequences count per
// channel: one for broadcasts, one per target node for direct frames (probes are unsequenced).
func (p *publisher) stamp(r *request) []byte {
	var seq uint64
	switch {
	case r.target != "":
		seq = p.directSeq[r.target] + 1
		p.directSeq[r.target] = seq
	case wire.FrameKind(r.frame) == wire.KindBroadcast:
		p.broadcastSeq++
		seq = p.broadcastSeq
	}
	if seq != 0 {
		wire.StampSeq(r.frame, seq)
	}
	if p.secret != nil {
		return wire.Sign(r.frame, p.secret)
	}
	return r.frame
}

// failQueued answers every request still queued when the publisher closes.
func (p *publisher) failQueued() {
	p.mu.Lock()
	q := p.queue
	p.queue = nil
	p.mu.Unlock()
	for _, r := range q {
		if r.state.CompareAndSwap(queued, taken) {
			r.done <- errPublisherClosed
		}
	}
}

// close stops the publisher after failing whatever is still queued. In-flight pipelines finish first.
func (p *publisher) close() {
	p.mu.Lock()
	close(p.closing)
	p.mu.Unlock()
	<-p.stopped
}
