package redisadapter

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// BenchmarkPublisherConcurrent is conc broadcasters publishing through one publisher against a round
// trip that costs nothing: the publisher's own CPU per frame (queueing, batching, copying, and parking
// and waking each waiting broadcaster), without Redis. ns/op is per frame.
func BenchmarkPublisherConcurrent(b *testing.B) {
	for _, conc := range []int{64, 1024} {
		b.Run("conc="+strconv.Itoa(conc), func(b *testing.B) {
			f := &fakeClient{roundTrip: func(context.Context, []redis.Cmder) error { return nil }}
			p := newPublisher(f, DefaultMaxBatch, &counters{})
			defer p.close()
			frame := testFrame(b, 1)
			b.SetParallelism((conc + 1) / 2) // GOMAXPROCS is 2 here: conc goroutines
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.publish(context.Background(), "ch", frame); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
