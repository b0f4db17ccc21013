package tracker

import (
	"sync"
	"time"
)

// pace is a token bucket over bytes, shared by a tracker's shards: chunks of large messages go out at
// most at rate bytes per second on average, in bursts of at most burst bytes.
type pace struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

func newPace(rate, burst int) *pace {
	return &pace{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// reserve takes n bytes from the bucket (it may go into debt) and returns how long to wait before the
// next send, so that the average stays at the rate.
func (p *pace) reserve(n int) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
	p.tokens -= float64(n)
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens / p.rate * float64(time.Second))
}
