package phoenixadapter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
)

// Broadcast publishes f as phoenix_pubsub_redis's Phoenix.PubSub.broadcast does:
// {3, :except, this node, topic, message, dispatcher}. Every Elixir and Go node of the PubSub but this
// one delivers it. It returns an error wrapping ErrUnencodable (nothing published) for a payload
// Elixir cannot receive, pubsub.ErrTooLarge, pubsub.ErrUnknownDispatcher, pubsub.ErrClosed, ctx's
// error, or Redis's.
func (a *Adapter) Broadcast(ctx context.Context, f pubsub.Frame) error {
	return a.send(ctx, rawExcept, a.nodeAtom, f)
}

// DirectBroadcast publishes f as Phoenix.PubSub.direct_broadcast does: {3, :only, node, ...}, which
// only the node called node delivers. node becomes an atom on every Elixir node: name only real nodes.
// Errors are those of Broadcast.
func (a *Adapter) DirectBroadcast(ctx context.Context, node string, f pubsub.Frame) error {
	if err := validAtom(node); err != nil {
		a.stats.refused.Add(1)
		return fmt.Errorf("%w: node name: %v", ErrUnencodable, err)
	}
	target, err := etf.AppendAtom(nil, Atom(node), false)
	if err != nil {
		a.stats.refused.Add(1)
		return fmt.Errorf("%w: node name: %w", ErrUnencodable, err)
	}
	return a.send(ctx, rawOnly, target, f)
}

func (a *Adapter) send(ctx context.Context, mode, node etf.Raw, f pubsub.Frame) error {
	if a.closed.Load() || !a.started.Load() || a.pub == nil {
		return fmt.Errorf("phoenixadapter: %w", pubsub.ErrClosed)
	}
	frame, err := a.encodeFrame(mode, node, f)
	if err != nil {
		a.stats.refused.Add(1)
		return err
	}
	return a.pub.publish(ctx, frame)
}

// frameBufs are the buffers frames are encoded into; the publisher returns them after PUBLISH.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// encodeFrame encodes {3, mode, node, topic, message, dispatcher} into a pooled buffer. Anything that
// is not a well-formed frame is an error here: nothing else is ever published.
func (a *Adapter) encodeFrame(mode, node etf.Raw, f pubsub.Frame) (*[]byte, error) {
	disp, err := a.dispatcher(f.Dispatcher, f.Payload)
	if err != nil {
		return nil, err
	}
	payload := toElixir(f.Payload)
	if a.cfg.GoPayloads && isStruct(f.Payload) { // opaque for Go nodes, rather than a map
		if payload, err = goPayload(f.Payload); err != nil {
			return nil, err
		}
	}
	bp := frameBufs.Get().(*[]byte)
	b, err := a.enc.Append((*bp)[:0], etf.Tuple{int64(3), mode, node, f.Topic, payload, disp})
	if err != nil && a.cfg.GoPayloads && errors.Is(err, etf.ErrUnencodable) {
		if payload, err = goPayload(f.Payload); err == nil {
			b, err = a.enc.Append((*bp)[:0], etf.Tuple{int64(3), mode, node, f.Topic, payload, disp})
		}
	}
	*bp = b
	if err != nil {
		frameBufs.Put(bp)
		if errors.Is(err, ErrUnencodable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUnencodable, err)
	}
	if len(b) > a.cfg.MaxMessageSize {
		frameBufs.Put(bp)
		return nil, fmt.Errorf("%w: the frame is %d bytes, MaxMessageSize is %d", pubsub.ErrTooLarge, len(b), a.cfg.MaxMessageSize)
	}
	return bp, nil
}

// dispatcher returns the encoded module atom for the Go dispatcher name.
func (a *Adapter) dispatcher(name string, payload any) (etf.Raw, error) {
	if name == "" {
		switch payload.(type) {
		case SocketBroadcast, *SocketBroadcast:
			return rawChannelServer, nil
		}
		return rawPubSub, nil
	}
	if d, ok := a.dispOut[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("%w: %q has no Elixir module in phoenixadapter.Config.Dispatchers", pubsub.ErrUnknownDispatcher, name)
}

// publisher sends frames from one goroutine, in the order they were queued, pipelining what queued up
// while the previous batch was on the wire.
type publisher struct {
	client  redis.UniversalClient
	channel string
	stats   *stats
	queue   chan *request
	done    chan struct{} // closed when run returns
}

type request struct {
	frame *[]byte
	err   chan error // buffered: the publisher never waits for a caller that gave up
}

const (
	queueLen = 4096
	maxBatch = 256
)

var errPublisherClosed = fmt.Errorf("phoenixadapter: %w", pubsub.ErrClosed)

// ErrMaybeDelivered wraps the error of a broadcast whose frame left for Redis before the error (the
// caller's ctx ended while it was on the wire): it may have been delivered.
var ErrMaybeDelivered = errors.New("phoenixadapter: the frame may have been delivered")

func newPublisher(client redis.UniversalClient, channel string, st *stats) *publisher {
	return &publisher{client: client, channel: channel, stats: st, queue: make(chan *request, queueLen), done: make(chan struct{})}
}

// publish queues frame and waits for Redis's answer, or for ctx to end.
func (p *publisher) publish(ctx context.Context, frame *[]byte) error {
	r := &request{frame: frame, err: make(chan error, 1)}
	select {
	case p.queue <- r:
	case <-ctx.Done():
		frameBufs.Put(frame)
		return fmt.Errorf("phoenixadapter: not sent: %w", ctx.Err())
	case <-p.done:
		frameBufs.Put(frame)
		return errPublisherClosed
	}
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrMaybeDelivered, ctx.Err())
	case <-p.done:
		select {
		case err := <-r.err:
			return err
		default:
			return fmt.Errorf("%w: %w", ErrMaybeDelivered, errPublisherClosed)
		}
	}
}

func (p *publisher) run(ctx context.Context) {
	defer close(p.done)
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			p.drain()
			return
		case r := <-p.queue:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-p.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		p.send(ctx, batch)
		clear(batch)
	}
}

func (p *publisher) send(ctx context.Context, batch []*request) {

	var errs []error
	if len(batch) == 1 {
		errs = []error{p.client.Publish(ctx, p.channel, *batch[0].frame).Err()}
	} else {
		pipe := p.client.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, r := range batch {
			cmds[i] = pipe.Publish(ctx, p.channel, *r.frame)
		}
		pipe.Exec(ctx) // each command's own error is below
		errs = make([]error, len(batch))
		for i, c := range cmds {
			errs[i] = c.Err()
		}
	}
	for i, r := range batch {
		err := errs[i]
		if err != nil && ctx.Err() != nil { // Close ended the PUBLISH
			p.stats.publishErrors.Add(1)
			err = fmt.Errorf("%w: %w", ErrMaybeDelivered, errPublisherClosed)
		} else if err != nil {
			p.stats.publishErrors.Add(1)
			err = fmt.Errorf("%w: phoenixadapter: PUBLISH: %w", ErrMaybeDelivered, err)
		} else {
			p.stats.published.Add(1)
		}
		frameBufs.Put(r.frame)
		r.err <- err
	}
}

// drain fails the requests still queued when the adapter closes.
func (p *publisher) drain() {
	for {
		select {
		case r := <-p.queue:
			frameBufs.Put(r.frame)
			r.err <- errPublisherClosed
		default:
			return
		}
	}
}
