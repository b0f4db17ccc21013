package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// pubConn is the publisher's own connection to Redis, used when the adapter owns its client (Config.URL)
// and can dial and set up a connection exactly as go-redis would (rawOptions): the connection the
// subscription uses, without SUBSCRIBE. The publisher goroutine alone uses it, one round trip at a
// time, so it needs no pool: a go-redis pool checkout costs every pipeline a health check of the
// connection (a recvfrom(MSG_PEEK) system call and three allocations) and a check for push
// notifications, which pubConn does not pay.
//
// The publisher encodes the batch's commands itself (take writes each PUBLISH around the frame it
// copies), so a round trip is one write of the batch's bytes and one read of its answers, each bounded
// as go-redis bounds them: the write by Options.WriteTimeout, the read by Options.ReadTimeout, both by
// the publisher's round-trip context (publishTimeout). A connection whose round trip fails in any way
// but an error answer of Redis is closed, and the next batch dials a new one.
//
// The connection is dialled with the client's Dialer, which the adapter's connSet wraps, so Close breaks
// a round trip blocked in a black hole as it does go-redis's. Pub/sub channels have no database, so the
// connection selects none (as the subscription's does not): PUBLISH reaches the same subscribers from
// any.
type pubConn struct {
	opt     *redis.Options
	sub     *rawSub // the connection and its reader; nil until dialled, and after a failure
	check   *connCheck
	idle    time.Time // when the last round trip ended
	answers []error   // per frame of the last round trip: nil, or its error
	life    context.Context
	// After a dial fails, batches fail at once with its error (nothing sent) until retryAt: the next
	// dial waits backoff, which doubles from redialMin to redialMax while dials keep failing and starts
	// again after one succeeds. Without it, every batch dialled while Redis was down (go-redis's pool
	// likewise fails fast after failed dials).
	dialErr   error
	retryAt   time.Time
	backoff   time.Duration
	redialMin time.Duration
	redialMax time.Duration
}

// The publish connection's redial back-off (pubConn.backoff): the first retry after a failed dial comes
// redialMin later, then ever later up to redialMax, so that a Redis that is down gets at most ten dials a
// second from the publisher, and one that came back is used again within a tenth of a second. (A second,
// as go-redis's pool waits, delayed a tracker's catch-up after a Redis restart past its 3 heartbeats:
// TestRealRedisRestartConvergesAt60k.)
const (
	redialMin = 10 * time.Millisecond
	redialMax = 100 * time.Millisecond
)

// checkIdleAfter is how long a connection must have been idle for a round trip to check its health
// first (connCheck). A connection in steady use (the next batch follows Redis's answer within
// microseconds) is not checked: a close in that window is a failure of the round trip, as with go-redis,
// whose check races with the server's close the same way.
const checkIdleAfter = time.Millisecond

// answerBufSize is the size of the reader of a batch's answers (integers, a few bytes each).
const answerBufSize = 16 << 10

func newPubConn(opt *redis.Options, life context.Context) *pubConn {
	return &pubConn{opt: opt, life: life, redialMin: redialMin, redialMax: redialMax}
}

// errDial wraps the error of a dial that failed: the batch was not sent.
type errDial struct{ err error }

func (e *errDial) Error() string { return "redisadapter: publish: connect: " + e.err.Error() }
func (e *errDial) Unwrap() error { return e.err }

// dial connects and sets up the connection, within ctx and the publisher's life.
func (c *pubConn) dial(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.life, cancel) // Close (abandon) ends a dial into a black hole
	defer stop()
	s, err := dialRaw(ctx, c.opt, 0, nil)
	if err != nil {
		return err
	}
	if err := s.ready(ctx); err != nil {
		s.close()
		return err
	}
	c.check = newConnCheck(s.conn)
	if s.rd.br.Buffered() > 0 {
		s.close()
		return malformed("data after the connection's set-up")
	}
	s.rd = newRESPReaderSize(c.check.reader(s.conn), answerBufSize, 0)
	c.sub = s
	return nil
}

// close closes the connection, if any.
func (c *pubConn) close() {
	if c.sub != nil {
		c.sub.close()
		c.sub, c.check = nil, nil
	}
}

// roundTrip writes wire, the RESP encoding of n commands, and reads their n answers into c.answers:
// nil for a frame Redis published, its error for one Redis refused, and for the frames whose answers
// did not come (a timeout, a broken connection) the error that ended the round trip, which the caller
// reports as maybe delivered. A dial that fails fails every frame with an *errDial (none was sent).
func (c *pubConn) roundTrip(ctx context.Context, wire []byte, n int) {
	c.answers = c.answers[:0]
	now := time.Now()
	if c.sub != nil && now.Sub(c.idle) >= checkIdleAfter {
		// The read deadline of the last round trip may have passed: the peek must not see it.
		if err := c.sub.conn.SetReadDeadline(time.Time{}); err != nil || c.check.check() != nil {
			c.close() // closed by Redis while idle, most likely: nothing was sent on it, dial anew
		}
	}
	if c.sub == nil {
		if now.Before(c.retryAt) { // the last dial failed a moment ago
			c.fail(&errDial{err: c.dialErr}, n)
			return
		}
		if err := c.dial(ctx); err != nil {
			c.backoff = min(max(2*c.backoff, c.redialMin), c.redialMax)
			c.dialErr, c.retryAt = err, time.Now().Add(c.backoff)
			c.fail(&errDial{err: err}, n)
			return
		}
		c.dialErr, c.retryAt, c.backoff = nil, time.Time{}, 0
	}
	conn := c.sub.conn
	deadline, _ := ctx.Deadline()
	if err := conn.SetWriteDeadline(ioDeadline(now, c.opt.WriteTimeout, deadline)); err != nil {
		c.broken(err, n)
		return
	}
	if _, err := conn.Write(wire); err != nil {
		c.broken(err, n)
		return
	}
	if err := conn.SetReadDeadline(ioDeadline(now, c.opt.ReadTimeout, deadline)); err != nil {
		c.broken(err, n)
		return
	}
	for len(c.answers) < n {
		_, err := c.sub.rd.header(':')
		if err != nil {
			var refused redisError
			if !errors.As(err, &refused) {
				c.broken(err, n)
				return
			}
		}
		c.answers = append(c.answers, err)
	}
	c.idle = time.Now()
}

// fail answers the rest of n frames with err.
func (c *pubConn) fail(err error, n int) {
	for len(c.answers) < n {
		c.answers = append(c.answers, err)
	}
}

// broken fails the frames not answered yet with err and closes the connection: what it would read next
// cannot be trusted to belong to the next batch.
func (c *pubConn) broken(err error, n int) {
	c.close()
	c.fail(fmt.Errorf("redisadapter: publish connection: %w", err), n)
}

// ioDeadline is the deadline of one read or write: timeout after now (as go-redis sets it; a timeout of
// 0 or less sets none), and never later than the round trip's deadline.
func ioDeadline(now time.Time, timeout time.Duration, roundTrip time.Time) time.Time {
	if timeout <= 0 {
		return roundTrip
	}
	d := now.Add(timeout)
	if !roundTrip.IsZero() && roundTrip.Before(d) {
		return roundTrip
	}
	return d
}

// appendPublishHeader appends the RESP encoding of PUBLISH (or SPUBLISH, sharded) of channel up to the
// frame's bulk-string header: the frame's size bytes and a CRLF follow.
func appendPublishHeader(b []byte, sharded bool, channel string, size int) []byte {
	if sharded {
		b = append(b, "*3\r\n$8\r\nspublish\r\n$"...)
	} else {
		b = append(b, "*3\r\n$7\r\npublish\r\n$"...)
	}
	b = strconv.AppendInt(b, int64(len(channel)), 10)
	b = append(b, '\r', '\n')
	b = append(b, channel...)
	b = append(b, '\r', '\n', '$')
	b = strconv.AppendInt(b, int64(size), 10)
	return append(b, '\r', '\n')
}

// publishOverhead bounds what appendPublishHeader and the final CRLF add to a frame, beyond its
// channel's name.
const publishOverhead = 48
