package redisadapter

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis Cluster support.
//
// Routing. go-redis treats PUBLISH as keyless: a *redis.ClusterClient sends each one to the next master
// in turn and splits a pipeline across masters, so consecutive frames of one node travel through
// different masters and the cluster bus, and arrive out of order (receivers then drop most of them as
// duplicates). Every channel of one PubSub shares the hash tag {pubsub name} (see newChannels), so
// marking the channel (args[1]) as the command's key makes the ClusterClient send every PUBLISH of a
// PubSub to one master, the owner of that slot, in the order the publisher sends them. Other clients
// ignore the key position.
//
// Failover. A ClusterClient refreshes its slot map once a minute, so after a failover it keeps sending
// to the dead master for up to that long. clusterReloader asks it to reload the map whenever a publish
// or a subscription fails, so the outage lasts as long as the failover.

// publishKeyPos is the position of PUBLISH's channel in its arguments ("publish", channel, message).
const publishKeyPos = 1

// routeBySlot marks cmd, a PUBLISH, as keyed by its channel, so that a ClusterClient routes it to the
// master of the channel's slot.
func routeBySlot(cmd redis.Cmder) { cmd.SetFirstKeyPos(publishKeyPos) }

// newPublishCmd returns a PUBLISH of message on channel, routed by the channel's slot.
func newPublishCmd(ctx context.Context, channel string, message any) *redis.IntCmd {
	cmd := redis.NewIntCmd(ctx, "publish", channel, message)
	routeBySlot(cmd)
	return cmd
}

// publishRouted publishes message on channel with client, routed by the channel's slot: it is
// client.Publish for a command outside the publisher (the probe that Start sends).
func publishRouted(ctx context.Context, client redis.UniversalClient, channel string, message any) error {
	cmd := newPublishCmd(ctx, channel, message)
	_ = client.Process(ctx, cmd)
	return cmd.Err()
}

// reloadEvery is the least time between two slot map reloads that failures ask for. A reload is one
// CLUSTER SLOTS, on a goroutine of go-redis's own.
const reloadEvery = 100 * time.Millisecond

// clusterReloader makes a *redis.ClusterClient reload its slot map after failures that may mean the
// map is stale: a master that is gone, a slot that moved, a cluster that is down for now. For any
// other client it does nothing.
type clusterReloader struct {
	client *redis.ClusterClient // nil: not a cluster client
	last   atomic.Int64         // unix nanos of the last reload asked for
}

func newClusterReloader(client redis.UniversalClient) *clusterReloader {
	c, _ := client.(*redis.ClusterClient)
	return &clusterReloader{client: c}
}

// failed notes that a command or a subscription failed with err, and asks for a reload if err may
// come from a stale slot map and no reload was asked for within reloadEvery. It does not wait for the
// reload (go-redis runs it in the background), and it is safe for concurrent use.
func (r *clusterReloader) failed(err error) {
	if r == nil || r.client == nil || !staleMapError(err) {
		return
	}
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < int64(reloadEvery) || !r.last.CompareAndSwap(last, now) {
		return
	}
	r.client.ReloadState(context.Background())
}

// force asks for a reload now, whatever the last one: the server said a slot moved.
func (r *clusterReloader) force() {
	if r == nil || r.client == nil {
		return
	}
	r.last.Store(time.Now().UnixNano())
	r.client.ReloadState(context.Background())
}

// staleMapError reports whether err may mean that the cluster's topology changed: the node is
// unreachable or timed out, or the cluster says the slot moved, is moving, or has no master now.
func staleMapError(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	if _, ok := redis.IsAskError(err); ok {
		return true
	}
	if redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsLoadingError(err) ||
		redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) {
		return true
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return true
	}
	// io.EOF and go-redis's own connection errors, which do not all wrap a net.Error.
	msg := err.Error()
	return strings.Contains(msg, "EOF") || strings.Contains(msg, "connection")
}
