package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
)

// ErrTooLarge is returned by a broadcast whose frame exceeds Config.MaxMessageSize. It is
// pubsub.ErrTooLarge: the PubSub refuses such a broadcast itself, before numbering it (FrameLimit).
var ErrTooLarge = pubsub.ErrTooLarge

// publishTimeout bounds one pipeline round trip when the caller's context has no deadline.
const publishTimeout = 10 * time.Second

// request is one frame on its way to Redis. The caller's frame is only lent until the call returns (the
// caller reuses its buffer), so the publisher copies it into a buffer of its own when it takes the
// request, and the caller may then give up waiting without the frame changing under the publisher.
//
// state is the handshake between the two. The caller, whose context ends:
//   - queued → abandoned: the frame never left; the publisher skips the request.
//   - copying: the publisher is copying the frame; the caller waits the few microseconds until taken.
//   - taken: the frame is the publisher's; the caller returns an ErrMaybeDelivered error.
//   - failed: the publisher stopped before taking it (or before sending it), and is answering
//     errPublisherClosed.
//
// A taken request is answered once, by whichever of two wins its state: the publisher, after the round
// trip (taken → answered), or abandon, when Close gives up on the round trip (taken → released). Only
// the winner sends on done, which never blocks: it has room for the one answer.
//
// A request goes back to the pool only after its caller received from done, and not if abandon
// answered it (the publisher may still hold it). One whose caller gave up is left to the garbage
// collector, since the publisher may still hold it and will still answer on done.
//
// seal, when set, is the caller's pubsub.Sealer: the frame is then numbered and signed as the publisher
// copies it (take), so that this node's frames go on the wire in the order of their numbers. It is
// read only while the caller waits (copying), and size, the frame's length on the wire, is set by the
// caller, so that take can size a batch without touching a sealer whose caller has given up.
type request struct {
	channel string
	arg     any    // channel boxed by the caller (a bucket's channel), or nil
	shard   int    // ≥ 0: SPUBLISH on a channel of this partition (a bucket's, on a Redis Cluster); -1: PUBLISH
	frame   []byte // the caller's frame until taken, then the publisher's copy
	seal    pubsub.Sealer
	size    int // the frame's length once sealed
	state   atomic.Int32
	done    chan error // capacity 1
}

const (
	queued int32 = iota
	copying
	taken
	abandoned
	failed
	answered
	released
)

var requests = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// ErrMaybeDelivered is wrapped by the error of a broadcast whose frame had left this node when the
// broadcast failed: its context ended, or the adapter closed, while the frame was in a pipeline, or
// the round trip to Redis failed. Redis may have published the frame (and other nodes received it);
// only its answer is missing. The cause is wrapped too: errors.Is(err, context.DeadlineExceeded),
// context.Canceled, or pubsub.ErrClosed tell why the wait ended.
//
// An error that does not wrap ErrMaybeDelivered means that the frame was not published: it was
// invalid or too large, the adapter was closed, the context ended while the frame was still queued on
// this node, or Redis answered with an error.
var ErrMaybeDelivered = errors.New("redisadapter: the frame may have been delivered")

// maybeDelivered is the error of a frame that left this node and whose fate is unknown.
type maybeDelivered struct{ cause error }

func (e *maybeDelivered) Error() string {
	return "redisadapter: publish: " + e.cause.Error() + " (the frame may have been delivered)"
}

func (e *maybeDelivered) Unwrap() []error { return []error{ErrMaybeDelivered, e.cause} }

// notSent wraps the reason a frame was never sent: the caller's context ended while it was queued.
func notSent(cause error) error { return fmt.Errorf("redisadapter: not sent: %w", cause) }

// roundTripError is the error of a frame whose round trip failed: an error answer of Redis means the
// frame was refused, any other error (a timeout, a broken connection) leaves its fate unknown.
func roundTripError(err error) error {
	if _, refused := err.(redis.Error); refused {
		return fmt.Errorf("redisadapter: publish: %w", err)
	}
	if _, notDialled := err.(*errDial); notDialled {
		return err // the connection could not be made: nothing was sent
	}
	return &maybeDelivered{cause: err}
}

// Publisher-owned batch buffers: a batch holds at most maxBatchBytes of frames (and at least one
// frame, whatever its size), and a buffer grown over maxKeptBatchBytes by a large frame is not kept.
const (
	maxBatchBytes     = 4 << 20
	maxKeptBatchBytes = 4 << 20
)

// publisher sends frames through one goroutine, in batches: every frame queued while a pipeline is in
// flight goes into the next one (group commit). One goroutine and one pipeline at a time keep this
// node's frames in the order they were queued, on every channel.
type publisher struct {
	client   redis.UniversalClient
	own      *pubConn // the publisher's own connection (see pubConn), or nil: go-redis's pool
	life     context.Context
	endLife  context.CancelFunc // called by abandon and when the publisher goroutine returns
	maxBatch int
	stats    *counters

	mu      sync.Mutex
	queue   []*request
	wake    chan struct{}
	closing chan struct{} // closed by stop: no new frames; queued ones fail
	// inflight is the batch in the round trip now, for abandon to answer; set once its frames are
	// copied, cleared before the publisher answers them. gaveUp is set by abandon: no frame taken from
	// the queue after it, or being copied then, is sent (the batch in flight, or about to be, is).
	inflight []*request
	gaveUp   bool
	stopped  chan struct{} // closed when the publisher goroutine has returned

	// Owned by the publisher goroutine.
	buf         []byte         // the frames of the batch in flight, copied from their callers (with own: the batch's commands)
	cmds        []*pubCmd      // reusable PUBLISH commands, one per frame of a batch
	shardCmds   [][]*pubCmd    // reusable SPUBLISH commands, per partition: one per frame of the partition in a batch
	shardNext   []int          // per partition, how many of its commands the batch uses
	shardsUsed  []int          // the partitions the batch uses
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

// shardCommand returns a SPUBLISH of r, a command reused from r's partition's own set: go-redis caches
// a command's slot in it (beyond our reach), so a command is reused only for channels of one partition,
// which share one slot.
func (p *publisher) shardCommand(r *request) redis.Cmder {
	for len(p.shardCmds) <= r.shard {
		p.shardCmds = append(p.shardCmds, nil)
		p.shardNext = append(p.shardNext, 0)
	}
	k := p.shardNext[r.shard]
	if k == 0 {
		p.shardsUsed = append(p.shardsUsed, r.shard)
	}
	p.shardNext[r.shard]++
	for len(p.shardCmds[r.shard]) <= k {
		c := newPubCmd()
		if c != nil {
			c.args[0] = spublishName
		}
		p.shardCmds[r.shard] = append(p.shardCmds[r.shard], c)
	}
	c := p.shardCmds[r.shard][k]
	if c == nil { // this go-redis copies arguments: a command of its own
		cmd := redis.NewIntCmd(context.Background(), spublishName, r.arg, r.frame)
		routeBySlot(cmd)
		return cmd
	}
	routeBySlot(c.cmd)
	c.args[1] = r.arg
	c.frame.b = r.frame
	c.cmd.SetErr(nil)
	c.cmd.SetVal(0)
	return c.cmd
}

// spublishName is SPUBLISH's name, boxed once.
var spublishName any = "spublish"

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
	return newPublisherOn(client, nil, maxBatch, stats)
}

// newPublisherOn returns a publisher that sends on a connection of its own, dialled with opt (see
// pubConn), or through client's pool when opt is nil.
func newPublisherOn(client redis.UniversalClient, opt *redis.Options, maxBatch int, stats *counters) *publisher {
	p := &publisher{
		client:      client,
		maxBatch:    maxBatch,
		stats:       stats,
		wake:        make(chan struct{}, 1),
		closing:     make(chan struct{}),
		stopped:     make(chan struct{}),
		channelArgs: make(map[string]any),
	}
	p.life, p.endLife = context.WithCancel(context.Background())
	if opt != nil {
		p.own = newPubConn(opt, p.life)
	}
	go p.run()
	return p
}

var errPublisherClosed = fmt.Errorf("redisadapter: %w", pubsub.ErrClosed)

// publish queues frame for channel and waits until Redis has accepted it, or ctx ends first. frame is
// only read, and only until publish returns. An error wraps ErrMaybeDelivered when the frame may have
// been published anyway.
func (p *publisher) publish(ctx context.Context, channel string, frame []byte) error {
	return p.publishBoxed(ctx, channel, nil, -1, frame, nil)
}

// publishBoxed is publish with channel already boxed in arg (nil: the publisher boxes it), for
// channels too many to cache by name (the buckets of Config.RouteByTopic).
//
// shard ≥ 0 makes it a SPUBLISH of a channel of that partition (all of whose channels are in one slot).
// seal, when not nil, is frame's Sealer: what is sent is what it makes of frame as the frame is taken.
func (p *publisher) publishBoxed(ctx context.Context, channel string, arg any, shard int, frame []byte, seal pubsub.Sealer) error {
	r := requests.Get().(*request)
	r.channel, r.arg, r.shard, r.frame, r.seal, r.size = channel, arg, shard, frame, seal, len(frame)
	if seal != nil {
		r.size = seal.SealedLen()
	}
	r.state.Store(queued)
	p.mu.Lock()
	select {
	case <-p.closing:
		p.mu.Unlock()
		r.frame, r.seal = nil, nil
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
	// One channel to wait on when the context cannot end (a select over several costs the runtime a lock
	// per channel, and 1,024 waiting broadcasters contend for a shared one): Close reaches the waiting
	// callers through done as well (abandon).
	var err error
	if ctxDone := ctx.Done(); ctxDone == nil {
		err = <-r.done
	} else {
		select {
		case err = <-r.done:
		case <-ctxDone:
			return giveUp(r, ctx.Err())
		}
	}
	recycle(r)
	return err
}

// recycle puts r, whose answer its caller received, back into the pool, unless abandon answered it:
// then the publisher may still hold it.
func recycle(r *request) {
	if r.state.Load() == released {
		return
	}
	r.frame, r.seal = nil, nil
	requests.Put(r)
}

// giveUp ends the wait for r because of cause, as its caller's context ended.
func giveUp(r *request, cause error) error {
	if r.state.CompareAndSwap(queued, abandoned) {
		return notSent(cause) // the publisher will skip it; r is not reused
	}
	for r.state.Load() == copying {
		runtime.Gosched() // the publisher is copying the frame: a memcpy away from taken
	}
	if r.state.Load() == failed { // never sent; the answer is on its way
		err := <-r.done
		r.seal = nil
		requests.Put(r)
		return err
	}
	select {
	case err := <-r.done: // answered already
		recycle(r)
		return err
	default:
		// In a pipeline: the frame is the publisher's now, and r is left to it (not reused).
		return &maybeDelivered{cause: cause}
	}
}

func (p *publisher) run() {
	defer close(p.stopped)
	defer func() {
		if p.cancel != nil {
			p.cancel()
		}
		p.endLife()
		if p.own != nil {
			p.own.close()
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
		for !p.isClosing() {
			batch = p.take(batch[:0])
			if len(batch) == 0 {
				break
			}
			p.send(pipe, batch)
			clear(batch) // do not keep the requests reachable
		}
	}
}

func (p *publisher) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// take moves up to maxBatch queued requests (and at most maxBatchBytes of frames) into batch, skipping
// those whose callers gave up, and copies their frames into the publisher's buffer.
func (p *publisher) take(batch []*request) []*request {
	p.mu.Lock()
	n, size, wire := 0, 0, 0
	for n < len(p.queue) && n < p.maxBatch {
		f := p.queue[n].size
		if n > 0 && size+f > maxBatchBytes {
			break
		}
		size += f
		wire += f + len(p.queue[n].channel) + publishOverhead
		n++
	}
	if p.own != nil {
		size = wire // the buffer holds the commands, around the frames
	}
	batch = append(batch, p.queue[:n]...)
	rest := copy(p.queue, p.queue[n:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	p.mu.Unlock()

	if cap(p.buf) > maxKeptBatchBytes && size <= maxKeptBatchBytes {
		p.buf = nil // grown by a large frame: do not keep it
	}
	if cap(p.buf) < size {
		p.buf = make([]byte, 0, max(size, min(2*cap(p.buf), maxKeptBatchBytes)))
	}
	buf := p.buf[:0]
	live := batch[:0]
	for _, r := range batch {
		if !r.state.CompareAndSwap(queued, copying) {
			continue // its caller gave up before we got to it
		}
		if p.own != nil {
			buf = appendPublishHeader(buf, r.shard >= 0, r.channel, r.size)
		}
		start := len(buf)
		if r.seal != nil {
			buf = r.seal.AppendSealed(buf) // numbered now, in the order of the wire
			r.seal = nil                   // the caller's, valid while it waits only
		} else {
			buf = append(buf, r.frame...)
		}
		r.frame = buf[start:len(buf):len(buf)]
		if p.own != nil {
			buf = append(buf, '\r', '\n')
		}
		r.state.Store(taken)
		live = append(live, r)
	}
	clear(batch[len(live):])
	p.buf = buf
	p.mu.Lock()
	if p.gaveUp { // Close gave up while the frames were copied: they are not sent
		p.mu.Unlock()
		for _, r := range live {
			if r.state.CompareAndSwap(taken, failed) {
				r.frame = nil
				r.done <- errPublisherClosed
			}
		}
		clear(live)
		return live[:0]
	}
	p.inflight = live
	p.mu.Unlock()
	return live
}

// send publishes one batch in one round trip (a pipeline, or a single command for a batch of one) and
// answers every request in it.
func (p *publisher) send(pipe redis.Pipeliner, batch []*request) {
	ctx := p.batchContext()
	live := batch // take copied every frame, and skipped the requests given up (abandon may read it)
	if p.own != nil {
		p.sendOwn(ctx, live)
		return
	}
	cmders := p.cmders[:0]
	for i, r := range live {
		cmders = append(cmders, p.command(i, r))
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
	p.mu.Lock()
	p.inflight = nil // answered below, unless abandon has answered them already
	p.mu.Unlock()
	var failed error
	for i, r := range live {
		e := cmders[i].Err()
		if e == nil && err != nil && !errors.Is(err, redis.Nil) {
			e = err
		}
		if e != nil {
			failed = e
			p.stats.publishErrors.Add(1)
			e = roundTripError(e)
		} else {
			p.stats.published.Add(1)
		}
		if r.state.CompareAndSwap(taken, answered) {
			r.frame = nil // before done: once answered, r may be back in the pool
			r.done <- e
		}
	}
	if failed != nil {
		p.reload.failed(failed) // a Redis Cluster may have failed over: refresh the slot map
	}
	for i := range live { // do not keep the batch buffer reachable from the commands
		if i < len(p.cmds) && p.cmds[i] != nil {
			p.cmds[i].frame.b = nil
		}
	}
	for _, part := range p.shardsUsed {
		for _, c := range p.shardCmds[part][:p.shardNext[part]] {
			if c != nil {
				c.frame.b = nil
			}
		}
		p.shardNext[part] = 0
	}
	p.shardsUsed = p.shardsUsed[:0]
	clear(cmders)
}

// sendOwn publishes one batch on the publisher's own connection: take wrote its commands in p.buf.
func (p *publisher) sendOwn(ctx context.Context, live []*request) {
	if len(live) == 0 {
		return
	}
	p.own.roundTrip(ctx, p.buf, len(live))
	p.mu.Lock()
	p.inflight = nil // answered below, unless abandon has answered them already
	p.mu.Unlock()
	var failed error
	for i, r := range live {
		e := p.own.answers[i]
		if e != nil {
			failed = e
			p.stats.publishErrors.Add(1)
			e = roundTripError(e)
		} else {
			p.stats.published.Add(1)
		}
		if r.state.CompareAndSwap(taken, answered) {
			r.frame = nil // before done: once answered, r may be back in the pool
			r.done <- e
		}
	}
	clear(p.own.answers)
	if failed != nil {
		p.reload.failed(failed)
	}
}

// single publishes a batch of one frame, the usual batch of a lone broadcaster, as one command rather
// than a pipeline: a pipeline's Exec costs go-redis six allocations, a command three (for the health
// check of the pooled connection it takes). A kept connection (redis.Client.Conn) would avoid even
// those for five seconds, but after that go-redis peeks it for push notifications before every
// command, twice, at three allocations and a syscall each, so it is worse. Order is kept whatever
// connection the pool gives: a batch is sent only once Redis has answered the one before. (With a
// client of its own the adapter sends on a connection of its own instead: pubConn.)
func (p *publisher) single(ctx context.Context, cmd redis.Cmder) error {
	return p.client.Process(ctx, cmd)
}

// command returns the i-th command of the batch, set to publish r.
func (p *publisher) command(i int, r *request) redis.Cmder {
	if r.shard >= 0 {
		return p.shardCommand(r)
	}
	for len(p.cmds) <= i {
		p.cmds = append(p.cmds, newPubCmd())
	}
	c := p.cmds[i]
	if c == nil { // this go-redis copies arguments: build the command the ordinary way
		return newPublishCmd(context.Background(), r.channel, r.frame)
	}
	// Set on every use, so that nothing that resets a command can make a ClusterClient send it to any
	// master (which reorders frames). go-redis caches the slot in the command: every channel of a
	// PubSub but the buckets' (sharded, above) shares one slot (see newChannels).
	routeBySlot(c.cmd)
	if r.arg != nil {
		c.args[1] = r.arg
	} else {
		c.args[1] = p.channelArg(r.channel)
	}
	c.frame.b = r.frame
	c.cmd.SetErr(nil)
	c.cmd.SetVal(0)
	return c.cmd
}

// failQueued answers every request still queued when the publisher stops: their frames were not sent.
func (p *publisher) failQueued() {
	p.mu.Lock()
	q := p.queue
	p.queue = nil
	p.mu.Unlock()
	for _, r := range q {
		if r.state.CompareAndSwap(queued, failed) { // a caller giving up now waits for this answer
			r.frame = nil
			r.done <- errPublisherClosed
		}
	}
}

// stop makes the publisher take no new frame: broadcasts queued or made from now on fail with
// errPublisherClosed (not sent). The pipeline in flight, if any, goes on.
func (p *publisher) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closing:
	default:
		close(p.closing)
	}
}

// abandon stops the callers of frames in flight from waiting for Redis's answer: they return an error
// that wraps ErrMaybeDelivered and pubsub.ErrClosed. Frames still queued fail (not sent), and none is
// sent from now on. Call it after stop.
func (p *publisher) abandon() {
	p.mu.Lock()
	p.gaveUp = true
	for _, r := range p.inflight {
		if r.state.CompareAndSwap(taken, released) {
			r.done <- &maybeDelivered{cause: errPublisherClosed}
		}
	}
	p.inflight = nil
	p.mu.Unlock()
	p.endLife() // then a dial of the publisher's own connection in progress ends (its batch is answered)
	p.failQueued()
}

// close stops the publisher, abandons the pipeline in flight (if any) and returns once the publisher
// goroutine has, which is when that pipeline's round trip ends.
func (p *publisher) close() {
	p.stop()
	p.abandon()
	<-p.stopped
}
