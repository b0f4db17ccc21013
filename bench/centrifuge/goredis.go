package main

// goredis.go: the common baseline, plain go-redis with no library on top. One client publishes, another
// (its own connection) is SUBSCRIBEd and counts what it reads, on the goroutine that reads it.

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

type goredisPair struct {
	pubc, subc *redis.Client
	ps         *redis.PubSub
	ap         *redis.AutoPipeliner // goredis-auto only
	channel    string
	payload    []byte
	cnt        counter
	started    bool // B's reader runs
	done       chan struct{}
}

// startGoredis is the pipelined baseline: one goroutine sends pipelines of conc PUBLISH commands and
// waits for each (conc messages in flight, the most that conc publishers each waiting for Redis can
// have), as BenchmarkBaselineGoRedis in redisadapter does with a fixed batch.
func startGoredis(cfg pairConfig) (pair, error) {
	p, err := newGoredisPair(cfg)
	if err != nil {
		return nil, err
	}
	return &goredisPipelined{p}, nil
}

// startGoredisAuto is conc goroutines each calling Publish on go-redis's (experimental) AutoPipeliner,
// which batches concurrent commands into pipelines itself: the same shape as the two libraries.
func startGoredisAuto(cfg pairConfig) (pair, error) {
	p, err := newGoredisPair(cfg)
	if err != nil {
		return nil, err
	}
	if p.ap, err = p.pubc.AutoPipeline(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func newGoredisPair(cfg pairConfig) (*goredisPair, error) {
	opt, err := redis.ParseURL(cfg.url)
	if err != nil {
		return nil, err
	}
	p := &goredisPair{channel: "gobench:" + cfg.id, payload: cfg.payloadBytes, done: make(chan struct{})}
	onNode(cfg.lib, "A", func() { p.pubc = redis.NewClient(opt) })
	onNode(cfg.lib, "B", func() {
		p.subc = redis.NewClient(opt)
		p.ps = p.subc.Subscribe(context.Background(), p.channel)
		if _, err = p.ps.Receive(context.Background()); err != nil { // the subscribe confirmation
			return
		}
		p.started = true
		go func() { // B: reads with Receive, as the adapter's receive loop does, and counts
			defer close(p.done)
			for {
				msg, err := p.ps.Receive(context.Background())
				if err != nil {
					return
				}
				if m, ok := msg.(*redis.Message); ok {
					p.cnt.seeLen(len(m.Payload))
				}
			}
		}()
	})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *goredisPair) publish() error {
	return p.ap.Publish(context.Background(), p.channel, p.payload).Err()
}

func (p *goredisPair) counter() *counter { return &p.cnt }

func (p *goredisPair) diag() string { return fmt.Sprintf("pool stats %+v", *p.subc.PoolStats()) }

func (p *goredisPair) close() {
	if p.ap != nil {
		p.ap.Close()
	}
	if p.ps != nil {
		p.ps.Close()
		if p.started {
			<-p.done
		}
	}
	if p.pubc != nil {
		p.pubc.Close()
	}
	if p.subc != nil {
		p.subc.Close()
	}
}

type goredisPipelined struct{ *goredisPair }

func (p *goredisPipelined) publish() error { panic("unused: publishLoop replaces it") }

func (p *goredisPipelined) publishLoop(conc int, stop *atomic.Bool, sent *atomic.Int64) error {
	pipe := p.pubc.Pipeline()
	for !stop.Load() {
		for range conc {
			pipe.Publish(context.Background(), p.channel, p.payload)
		}
		if _, err := pipe.Exec(context.Background()); err != nil {
			return err
		}
		sent.Add(int64(conc))
	}
	return nil
}
