package pubsub

// Dispatcher delivers one broadcast to a topic's local subscribers: Phoenix's custom dispatching.
//
// Dispatch receives every local subscription of the topic (the sender's included), the sender (nil when
// there is none, and always nil for broadcasts from other nodes) and the message. It is called once per
// broadcast on each node that has at least one subscriber to the topic, never with no entries, on the
// goroutine that delivers: the broadcaster's for local delivery, the adapter's receive loop for remote
// ones. It must therefore not block; Subscriber.Deliver never does. Dispatch may be called concurrently
// for different broadcasts. entries is valid only until Dispatch returns; copy what you keep.
//
// A custom dispatcher works on a copy of the entries, taken before it is called, so it may subscribe,
// unsubscribe and broadcast itself; but it may therefore also see a subscription that was removed (or a
// subscriber closed) a moment ago. Subscriber.Deliver is safe then (it returns false); anything a
// dispatcher reaches through metadata (a fastlane writer, say) must be just as safe to use after its
// subscription ends. The default dispatcher never sees a removed subscription.
//
// Register dispatchers by name in Config.Dispatchers, the same on every node, and choose one per broadcast
// with WithDispatcher.
type Dispatcher interface {
	Dispatch(entries []Entry, from *Subscriber, msg Message)
}

// DispatcherFunc adapts a function to the Dispatcher interface.
type DispatcherFunc func(entries []Entry, from *Subscriber, msg Message)

// Dispatch calls f(entries, from, msg).
func (f DispatcherFunc) Dispatch(entries []Entry, from *Subscriber, msg Message) {
	f(entries, from, msg)
}

// Entry is one subscription: the subscriber and the metadata it subscribed with (WithMetadata; nil
// without it).
type Entry struct {
	Subscriber *Subscriber
	Metadata   any
}

// DefaultDispatcher is Phoenix's default dispatch: deliver msg to every entry except from's. It is what
// a broadcast without WithDispatcher does (more cheaply, without copying the entries).
func DefaultDispatcher() Dispatcher { return DispatcherFunc(defaultDispatch) }

func defaultDispatch(entries []Entry, from *Subscriber, msg Message) {
	for _, e := range entries {
		if e.Subscriber != from {
			e.Subscriber.Deliver(msg)
		}
	}
}

// HasDispatcher reports whether name is a dispatcher a broadcast may choose with WithDispatcher: one of
// Config.Dispatchers, or "" (the default dispatcher). A package that broadcasts with a dispatcher its
// user names (presence.Config.Dispatcher, say) checks it once here instead of failing every broadcast.
func (ps *PubSub) HasDispatcher(name string) bool {
	_, err := ps.dispatcher(name)
	return err == nil
}

// BroadcastOption configures one broadcast call. The zero value changes nothing. (Options are values,
// not functions, so that passing one costs no allocation.)
type BroadcastOption struct{ dispatcher string }

// WithDispatcher makes a broadcast deliver through the dispatcher registered under name in
// Config.Dispatchers, on this node and on every node that receives it. An unknown name is an
// ErrUnknownDispatcher from the broadcast call; "" is the default dispatcher.
func WithDispatcher(name string) BroadcastOption {
	return BroadcastOption{dispatcher: name}
}
