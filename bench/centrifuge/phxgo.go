package main

// phxgo.go is the only file of this benchmark that uses github.com/phxgo/pubsub's API, so that API
// changes need edits here only.

import (
	"context"
	"fmt"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// phxgoPair is two nodes of one PubSub on the Redis adapter, each with its own adapter and so its
// own go-redis client and connections. Node A broadcasts; a subscriber on node B counts.
type phxgoPair struct {
	a, b    *pubsub.PubSub
	ab      *redisadapter.Adapter
	sub     *pubsub.Subscriber
	payload any // boxed once: the caller's []byte → any conversion is not the library's cost
	cnt     counter
	done    chan struct{}
}

func startPhxgo(cfg pairConfig) (pair, error) { return startPhxgoPair(cfg, false) }

// startPhxgoRouted starts the pair with redisadapter.Config.RouteByTopic on both nodes (both nodes of a
// PubSub must agree on it): B subscribes to the Redis channel of its topic's bucket only, and A, which
// has no subscriber, to no bucket, so A does not read back its own broadcasts. That is the layout of
// centrifuge (which subscribes per channel, where there are local subscribers) and of the goredis
// baseline (one subscriber).
func startPhxgoRouted(cfg pairConfig) (pair, error) { return startPhxgoPair(cfg, true) }

func startPhxgoPair(cfg pairConfig, routed bool) (pair, error) {
	p := &phxgoPair{payload: cfg.payload, done: make(chan struct{})}
	name := "bench-" + cfg.id
	var err error
	onNode(cfg.lib, "A", func() { p.a, _, err = phxgoNode(cfg.url, name, "a", routed) })
	if err != nil {
		return nil, err
	}
	onNode(cfg.lib, "B", func() {
		p.b, p.ab, err = phxgoNode(cfg.url, name, "b", routed)
		if err != nil {
			return
		}
		if p.sub, err = p.b.NewSubscriber(pubsub.WithMailboxSize(cfg.mailbox)); err != nil {
			return
		}
		go func() { // B's consumer: takes every message from the mailbox and counts it
			defer close(p.done)
			for m := range p.sub.C() {
				b, _ := m.Payload.([]byte)
				p.cnt.see(b)
			}
		}()
		// With routing, a subscription is effective once Redis confirms its bucket: wait for it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = p.sub.SubscribeContext(ctx, topic)
	})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func phxgoNode(url, name, node string, routed bool) (*pubsub.PubSub, *redisadapter.Adapter, error) {
	ad, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: node, RouteByTopic: routed})
	if err != nil {
		return nil, nil, err
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: ad})
	if err != nil {
		return nil, nil, err
	}
	return ps, ad, nil
}

func (p *phxgoPair) publish() error {
	return p.a.Broadcast(context.Background(), topic, p.payload)
}

func (p *phxgoPair) counter() *counter { return &p.cnt }

func (p *phxgoPair) diag() string {
	return fmt.Sprintf("mailbox dropped %d, B adapter stats %+v", p.sub.Dropped(), p.ab.Stats())
}

func (p *phxgoPair) close() {
	if p.a != nil {
		p.a.Close()
	}
	if p.b != nil {
		p.b.Close() // closes the subscriber's mailbox, which ends the consumer
		if p.sub != nil {
			<-p.done
		}
	}
}
