package redisadapter

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rateLog logs at most one event per key per interval, and says how many it suppressed in between, so
// that a flood of bad frames cannot flood the log.
type rateLog struct {
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	last map[string]*rateEntry
}

type rateEntry struct {
	at         time.Time
	suppressed int
}

func newRateLog(log *slog.Logger, interval time.Duration) *rateLog {
	return &rateLog{log: log, interval: interval, last: make(map[string]*rateEntry)}
}

// log logs msg at level unless key was logged less than interval ago. Keys are a small fixed set
// (reasons), so the map stays small.
func (r *rateLog) logAt(level slog.Level, key, msg string, attrs ...slog.Attr) {
	now := time.Now()
	r.mu.Lock()
	e := r.last[key]
	if e == nil {
		e = &rateEntry{}
		r.last[key] = e
	} else if now.Sub(e.at) < r.interval {
		e.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.at, e.suppressed = now, 0
	r.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed_since_last", suppressed))
	}
	r.log.LogAttrs(context.Background(), level, msg, attrs...)
}
