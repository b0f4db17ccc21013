package pubsub

// ring is a FIFO of messages in a circular buffer that grows by doubling, on demand: the part of a
// mailbox that does not fit in its channel (see mailbox.go). It is not safe for concurrent use; the
// subscriber's mu guards it.
type ring struct {
	buf  []Message // its length is 0 or a power of two
	head int
	n    int

	// For the pump (mailbox.go), which exists exactly as long as the ring:
	inHand bool          // the pump holds a message taken from the ring, waiting for room in the channel
	owed   bool          // DropOldest dropped the message in hand (counted): the pump takes it back
	wake   chan struct{} // closed by the subscriber's close, to start the pump's linger
}

// minRing is the first buffer a ring allocates.
const minRing = 4

func (r *ring) push(m Message) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = m
	r.n++
}

// pop removes and returns the oldest message; the ring must not be empty.
func (r *ring) pop() Message {
	m := r.buf[r.head]
	r.buf[r.head] = Message{} // let the payload go
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return m
}

// front returns the oldest message without removing it; the ring must not be empty.
func (r *ring) front() Message { return r.buf[r.head] }

func (r *ring) grow() {
	buf := make([]Message, max(minRing, 2*len(r.buf)))
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}
