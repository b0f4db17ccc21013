package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStaleMapError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{context.Canceled, false},
		{errors.New("NOPERM this user has no permissions to run the 'publish' command"), false},
		{errors.New("ERR unknown command"), false},
		{redis.ErrClosed, false},
		{errors.New("MOVED 3999 127.0.0.1:6381"), true},
		{errors.New("ASK 3999 127.0.0.1:6381"), true},
		{errors.New("CLUSTERDOWN The cluster is down"), true},
		{errors.New("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{errors.New("LOADING Redis is loading the dataset in memory"), true},
		{errors.New("READONLY You can't write against a read only replica."), true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("dial tcp 127.0.0.1:7421: %w", syscall.ECONNREFUSED), true},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{io.EOF, true},
		{fmt.Errorf("redisadapter: publish: %w", io.ErrUnexpectedEOF), true},
	} {
		if got := staleMapError(tc.err); got != tc.want {
			t.Errorf("staleMapError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// Failures make a ClusterClient reload its slot map, at most once per reloadEvery however many fail, and
// without waiting for the reload; other clients are left alone.
func TestClusterReloaderIsRateLimited(t *testing.T) {
	var loads atomic.Int32
	release := make(chan struct{})
	c := redis.NewClusterClient(&redis.ClusterOptions{
		ClusterSlots: func(context.Context) ([]redis.ClusterSlot, error) {
			loads.Add(1)
			<-release // the reload hangs until the test lets it go: failed must not wait for it
			return []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{{Addr: "127.0.0.1:1"}}}}, nil
		},
	})
	defer c.Close()
	r := newClusterReloader(c)
	refused := fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)
	for range 1000 {
		r.failed(refused)
	}
	deadline := time.Now().Add(2 * time.Second)
	for loads.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d reloads after a burst of failures, want 1", n)
	}
	close(release)
	// Once reloadEvery has passed, a failure asks again. (go-redis drops a request that comes while a
	// reload is in flight, so ask until one is taken.)
	for loads.Load() < 2 && time.Now().Before(deadline) {
		r.failed(errors.New("NOPERM no")) // not a topology error
		r.last.Store(time.Now().Add(-reloadEvery).UnixNano())
		r.failed(refused)
		time.Sleep(10 * time.Millisecond)
	}
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d reloads, want 2 (one more once reloadEvery has passed)", n)
	}
	// Let go-redis's reload goroutine finish its cool-down before the client goes (goleak).
	time.Sleep(300 * time.Millisecond)

	var nilReloader *clusterReloader
	nilReloader.failed(refused)
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer plain.Close()
	newClusterReloader(plain).failed(refused)
}
