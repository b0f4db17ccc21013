package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
)

// ErrTooLarge is returned by a broadcast whose frame exceeds Config.MaxMessageSize.
var ErrTooLarge = errors.New("redisadapter: message too large")

// publishTimeout bounds one pipeline round trip when the caller's context has no deadline.
const publishTimeout = 10 * time.Second

// request is one frame waiting for the publisher. The broadcaster that made it waits for done, so the
// frame needs no copy: it belongs to the broadcaster's buffer until done is signalled.
type request struct {
	channel string
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
	stats    *counters

	mu      sync.Mutex
	queue   []*request
	wake    chan struct{}
	closing chan struct{}
	stopped chan struct{}

	// Owned by the publisher goroutine.
	cmds        []*pubCmd      // reusable PUBLISH commands, one per frame of a batch
	cmders      []redis.Cmder  // the same, as go-redis takes them
	channelArgs map[string]any // channel names boxed once, for the commands' arguments
	ctx         context.Context
	cancel      context.CancelFunc
	ctxDeadline time.Time

	reload *clusterReloader // set by the adapter before the first publish; nil does nothing
}

// pubCmd is one PUBLISH command that the publisher fills anew for every batch. go-redis's Publish
// allocates a command, its argument slice, and a box for the channel and one for the message: four
// allocations per frame. A pubCmd costs none: its argument slice is kept, the channel is boxed once per
// channel name, and the frame goes in through frame, which stays at the same address. (So a go-redis
// hook that keeps a command after its round trip sees it change with the next batch.)
type pubCmd struct {
	cmd   *redis.IntCmd
	args  []any // the slice cmd holds: "publish", channel, &frame
	frame frameArg
}

// frameArg hands a frame to go-redis without boxing a []byte (which allocates): go-redis writes an
// encoding.BinaryMarshaler's bytes as one bulk string, exactly as it writes a []byte, so the bytes on
// the wire are the same.
type frameArg struct{ b []byte }

func (f *frameArg) MarshalBinary() ([]byte, error) { return f.b, nil }

// String shows the frame to hooks and loggers that format a command's arguments.
func (f *frameArg) String() string { return string(f.b) }

// newPubCmd returns a reusable command, or nil if this go-redis copies the arguments it is given (the
// publisher then builds a command per frame).
func newPubCmd() *pubCmd {
	c := &pubCmd{}
	c.args = []any{"publish", "", &c.frame}
	c.cmd = redis.NewIntCmd(context.Background(), c.args...)
	if got := c.cmd.Args(); len(got) != len(c.args) || &got[0] != &c.args[0] {
		return nil
	}
	return c
}

// maxChannelArgs bounds the cache of boxed channel names (there is one per node that direct frames go
// to, and default node names are random, so the set can grow over a long life).
const maxChannelArgs = 256

// channelArg returns channel boxed as an any, allocating only the first time a name is seen.
func (p *publisher) channelArg(channel string) any {
	if v, ok := p.channelArgs[channel]; ok {
		return v
	}
	if len(p.channelArgs) >= maxChannelArgs {
		clear(p.channelArgs)
	}
	var v any = channel
	p.channelArgs[channel] = v
	return v
}

// ctxSlack is how much longer than publishTimeout the publisher's context lives: the context (and its
// timer) is made at most once per ctxSlack, not once per batch, and every round trip is still bounded,
// by between publishTimeout and publishTimeout+ctxSlack.
const ctxSlack = time.Second

// batchContext returns the context of the next round trip.
func (p *publisher) batchContext() context.Context {
	now := time.Now()
	if p.ctx == nil || p.ctxDeadline.Sub(now) < publishTimeout {
		if p.cancel != nil {
			p.cancel()
		}
		p.ctxDeadline = now.Add(publishTimeout + ctxSlack)
		p.ctx, p.cancel = context.WithDeadline(context.Background(), p.ctxDeadline)
	}
	return p.ctx
}

func newPublisher(client redis.UniversalClient, maxBatch int, stats *counters) *publisher {
	p := &publisher{
		client:      client,
		maxBatch:    maxBatch,
		stats:       stats,
		wake:        make(chan struct{}, 1),
		closing:     make(chan struct{}),
		stopped:     make(chan struct{}),
		channelArgs: make(map[string]any),
	}
	go p.run()
	return p
}

var errPublisherClosed = fmt.Errorf("redisadapter: %w", pubsub.ErrClosed)

// publish queues frame for channel and waits until Redis has accepted it, or ctx ends first.
func (p *publisher) publish(ctx context.Context, channel string, frame []byte) error {
	r := requests.Get().(*request)
	r.channel, r.frame = channel, frame
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
	defer func() {
		if p.cancel != nil {
			p.cancel()
		}
	}()
	pipe := p.client.Pipeline()
	var batch []*request
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
			p.send(pipe, batch)
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

// send publishes one batch in one round trip (a pipeline, or a single command for a batch of one) and
// answers every request in it.
func (p *publisher) send(pipe redis.Pipeliner, batch []*request) {
	ctx := p.batchContext()
	live := batch[:0]
	cmders := p.cmders[:0]
	for _, r := range batch {
		if !r.state.CompareAndSwap(queued, taken) {
			continue // its caller gave up before we got to it
		}
		cmders = append(cmders, p.command(len(live), r))
		live = append(live, r)
	}
	p.cmders = cmders
	if len(live) == 0 {
		return
	}
	var err error
	if len(live) == 1 {
		err = p.single(ctx, cmders[0])
	} else {
		// One call, so that the pipeline's queue (which Exec drops) is allocated once per batch.
		_ = pipe.BatchProcess(ctx, cmders...)
		_, err = pipe.Exec(ctx)
	}
	var failed error
	for i, r := range live {
		e := cmders[i].Err()
		if e == nil && err != nil && !errors.Is(err, redis.Nil) {
			e = err
		}
		if e != nil {
			failed = e
			p.stats.publishErrors.Add(1)
			e = fmt.Errorf("redisadapter: publish: %w", e)
		} else {
			p.stats.published.Add(1)
		}
		r.done <- e
	}
	if failed != nil {
		p.reload.failed(failed) // a Redis Cluster may have failed over: refresh the slot map
	}
	for i := range live { // do not keep the broadcasters' buffers reachable
		if i < len(p.cmds) && p.cmds[i] != nil {
			p.cmds[i].frame.b = nil
		}
	}
	clear(cmders)
}

// single publishes a batch of one frame, the usual batch of a lone broadcaster, as one command rather
// than a pipeline: a pipeline's Exec costs go-redis six allocations, a command three (for the health
// check of the pooled connection it takes). A kept connection (redis.Client.Conn) would avoid even
// those for five seconds, but after that go-redis peeks it for push notifications before every
// command, twice, at three allocations and a syscall each, so it is worse. Order is kept whatever
// connection the pool gives: a batch is sent only once Redis has answered the one before.
func (p *publisher) single(ctx context.Context, cmd redis.Cmder) error {
	return p.client.Process(ctx, cmd)
}

// command returns the i-th command of the batch, set to publish r.
func (p *publisher) command(i int, r *request) redis.Cmder {
	for len(p.cmds) <= i {
		p.cmds = append(p.cmds, newPubCmd())
	}
	c := p.cmds[i]
	if c == nil { // this go-redis copies arguments: build the command the ordinary way
		return newPublishCmd(context.Background(), r.channel, r.frame)
	}
	// Set on every use, so that nothing that resets a command can make a ClusterClient send it to any
	// master (which reorders frames). go-redis caches the slot in the command: every channel of a
	// PubSub shares one slot (see newChannels).
	routeBySlot(c.cmd)
	c.args[1] = p.channelArg(r.channel)
	c.frame.b = r.frame
	c.cmd.SetErr(nil)
	c.cmd.SetVal(0)
	return c.cmd
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
