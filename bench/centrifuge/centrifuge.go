package main

// centrifuge.go: the same workload on github.com/centrifugal/centrifuge, two Nodes each with its own
// RedisShard (its own rueidis client and connections) and RedisBroker.

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/prometheus/client_golang/prometheus"
)

type centrifugePair struct {
	a, b           *centrifuge.Node
	shardA, shardB *centrifuge.RedisShard
	handler        *countingHandler
	regB           *prometheus.Registry
	payload        []byte
	cnt            counter
	stop, done     chan struct{}
}

func startCentrifuge(cfg pairConfig) (pair, error) {
	p := &centrifugePair{payload: cfg.payloadBytes, stop: make(chan struct{}), done: make(chan struct{})}
	prefix := "cfbench-" + cfg.id
	var err error
	onNode(cfg.lib, "A", func() { p.a, p.shardA, _, err = centrifugeNode(cfg.url, prefix, nil, prometheus.NewRegistry()) })
	if err != nil {
		return nil, err
	}
	onNode(cfg.lib, "B", func() {
		// Node B's mailbox: a buffered channel of the same size as our subscriber's mailbox, filled
		// without blocking (full → dropped and counted), as pubsub.Subscriber.Deliver does.
		p.handler = &countingHandler{mailbox: make(chan *centrifuge.Publication, cfg.mailbox)}
		go func() { // B's consumer: takes every publication from the mailbox and counts it
			defer close(p.done)
			for {
				select {
				case pub := <-p.handler.mailbox:
					p.cnt.see(pub.Data)
				case <-p.stop:
					return
				}
			}
		}()
		var broker *centrifuge.RedisBroker
		p.regB = prometheus.NewRegistry()
		p.b, p.shardB, broker, err = centrifugeNode(cfg.url, prefix, p.handler, p.regB)
		if err != nil {
			return
		}
		// What a client subscription does on the broker side (Node.addSubscription → Broker.Subscribe),
		// without a client: B's node now receives the channel's publications from Redis.
		err = broker.Subscribe(channel)
	})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// centrifugeNode starts a Node with a RedisBroker on its own RedisShard. When h is not nil the broker
// hands every publication it receives to h before the Node (h wraps the Node's handler).
func centrifugeNode(url, prefix string, h *countingHandler, reg *prometheus.Registry) (*centrifuge.Node, *centrifuge.RedisShard, *centrifuge.RedisBroker, error) {
	node, err := centrifuge.New(centrifuge.Config{
		LogLevel: centrifuge.LogLevelNone,
		// Each node its own registry, so the two nodes (and successive runs) do not share series.
		Metrics: centrifuge.MetricsConfig{RegistererGatherer: reg},
	})
	if err != nil {
		return nil, nil, nil, err
	}
	shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: url})
	if err != nil {
		return nil, nil, nil, err
	}
	broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Prefix: prefix, Shards: []*centrifuge.RedisShard{shard}})
	if err != nil {
		shard.Close()
		return nil, nil, nil, err
	}
	if h == nil {
		node.SetBroker(broker)
	} else {
		node.SetBroker(&wrappedBroker{RedisBroker: broker, h: h})
	}
	if err := node.Run(); err != nil {
		shard.Close()
		return nil, nil, nil, err
	}
	return node, shard, broker, nil
}

// wrappedBroker is the RedisBroker with the Node's event handler wrapped by a countingHandler.
type wrappedBroker struct {
	*centrifuge.RedisBroker
	h *countingHandler
}

func (b *wrappedBroker) RegisterBrokerEventHandler(h centrifuge.BrokerEventHandler) error {
	b.h.BrokerEventHandler = h
	return b.RedisBroker.RegisterBrokerEventHandler(b.h)
}

// countingHandler puts every publication the broker received into the mailbox, then passes it on to
// the Node (which looks for local subscribers in its hub, finds none and stops).
type countingHandler struct {
	centrifuge.BrokerEventHandler
	mailbox chan *centrifuge.Publication
	dropped atomic.Int64
}

func (h *countingHandler) HandlePublication(ch string, pub *centrifuge.Publication, sp centrifuge.StreamPosition, delta bool, prev *centrifuge.Publication) error {
	select {
	case h.mailbox <- pub:
	default:
		h.dropped.Add(1)
	}
	return h.BrokerEventHandler.HandlePublication(ch, pub, sp, delta, prev)
}

func (p *centrifugePair) publish() error {
	_, err := p.a.Publish(channel, p.payload)
	return err
}

func (p *centrifugePair) counter() *counter { return &p.cnt }

func (p *centrifugePair) diag() string {
	s := fmt.Sprintf("mailbox dropped %d", p.handler.dropped.Load())
	// The broker's PUB/SUB processors drop when their queue is full, and count it in a metric.
	mfs, _ := p.regB.Gather()
	for _, mf := range mfs {
		if strings.HasSuffix(mf.GetName(), "redis_pub_sub_dropped_messages") {
			var n float64
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
			s += fmt.Sprintf(", %s %.0f", mf.GetName(), n)
		}
	}
	return s
}

func (p *centrifugePair) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p.a != nil {
		_ = p.a.Shutdown(ctx)
		p.shardA.Close()
	}
	if p.b != nil {
		_ = p.b.Shutdown(ctx)
		p.shardB.Close()
	}
	if p.handler != nil {
		// The mailbox is not closed: the broker's processors may still run for a moment after
		// Shutdown, and they send to it (without blocking).
		close(p.stop)
		<-p.done
	}
}
