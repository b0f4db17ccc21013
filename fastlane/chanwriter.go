package fastlane

import "sync/atomic"

// ChanWriter is a FrameWriter that queues frames in a bounded channel: a connection's outbound queue,
// drained by the goroutine that writes to the network (or by a test). When the channel is full the frame
// is dropped and counted; WriteFrame never blocks.
//
// Make one with NewChanWriter; the zero value drops every frame. The channel is never closed (a send on
// a closed channel would panic the broadcaster): to stop, unsubscribe and then stop reading. Every
// method is safe for concurrent use.
type ChanWriter struct {
	c       chan []byte
	dropped atomic.Uint64
}

// NewChanWriter returns a ChanWriter whose channel holds size frames (at least 1).
func NewChanWriter(size int) *ChanWriter {
	return &ChanWriter{c: make(chan []byte, max(size, 1))}
}

// WriteFrame implements FrameWriter: it queues frame and returns true, or, when the channel is full,
// counts a drop and returns false. It never blocks.
func (w *ChanWriter) WriteFrame(frame []byte) bool {
	select {
	case w.c <- frame:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// C returns the channel frames are queued on (nil for the zero value). Frames are shared with other
// writers: read them, never modify them.
func (w *ChanWriter) C() <-chan []byte { return w.c }

// Dropped returns how many frames WriteFrame dropped because the channel was full.
func (w *ChanWriter) Dropped() uint64 { return w.dropped.Load() }

var _ FrameWriter = (*ChanWriter)(nil)
