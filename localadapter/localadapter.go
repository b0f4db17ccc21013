// Package localadapter is the single-node adapter: a PubSub whose broadcasts reach this process's
// subscribers only. It is what a PubSub does without an adapter; use it to make the choice explicit or to
// name the node.
package localadapter

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/phxgo/pubsub"
)

// Adapter is a pubsub.Adapter with no other nodes. It sends nothing and starts no goroutine.
type Adapter struct {
	nodeName string
	started  atomic.Bool
}

// New returns an adapter for a node named nodeName ("" means pubsub.DefaultNodeName).
func New(nodeName string) *Adapter {
	if nodeName == "" {
		nodeName = pubsub.DefaultNodeName
	}
	return &Adapter{nodeName: nodeName}
}

var errStarted = fmt.Errorf("localadapter: %w", pubsub.ErrAdapterInUse)

// Start implements pubsub.Adapter. An Adapter serves one PubSub: a second Start is an error.
func (a *Adapter) Start(context.Context, pubsub.Host) error {
	if !a.started.CompareAndSwap(false, true) {
		return errStarted
	}
	return nil
}

// NodeName implements pubsub.Adapter.
func (a *Adapter) NodeName() string { return a.nodeName }

// Broadcast implements pubsub.Adapter: there is no other node, so it sends nothing.
func (a *Adapter) Broadcast(context.Context, pubsub.Frame) error { return nil }

// DirectBroadcast implements pubsub.Adapter: no other node exists, so nothing is sent, as Phoenix does
// for an unknown node.
func (a *Adapter) DirectBroadcast(context.Context, string, pubsub.Frame) error { return nil }

// Close implements pubsub.Adapter.
func (a *Adapter) Close() error { return nil }

// LocalOnly implements pubsub.LocalOnly, so the PubSub never encodes frames for this adapter.
func (a *Adapter) LocalOnly() bool { return true }
