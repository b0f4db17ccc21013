// Package ratelog logs at most one line per key per interval, saying how many it suppressed in between,
// so that a flood of bad input cannot flood the log.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Log logs at most one event per key per interval, and says how many it suppressed in between. It is
// safe for concurrent use.
type Log struct {
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	last map[string]*rateEntry
}

type rateEntry struct {
	at         time.Time
	suppressed int
}

// New returns a Log that writes to log at most once per key per interval.
func New(log *slog.Logger, interval time.Duration) *Log {
	return &Log{log: log, interval: interval, last: make(map[string]*rateEntry)}
}

// LogAt logs msg at level unless key was logged less than interval ago. Keys must come from a small
// fixed set (reasons, never data from the network), so the map stays small.
func (r *Log) LogAt(level slog.Level, key, msg string, attrs ...slog.Attr) {
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

// Suppressed reports whether a line for key would be suppressed now, and counts it as suppressed if
// so. A caller whose attributes cost something to build (a copy, an allocation) calls it first and
// LogAt only when it returns false.
func (r *Log) Suppressed(key string) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.last[key]; e != nil && now.Sub(e.at) < r.interval {
		e.suppressed++
		return true
	}
	return false
}
