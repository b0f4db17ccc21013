package pubsubtest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The frames RunAdapter sends are opaque bytes of its own making, which adapters must carry unchanged
// and never parse:
//
//	pubsubtest:<token>:<from>:<to>:<lane>:<seq>:<padding>
//
// token is random per cluster, from and to are node indexes (to is -1 for a broadcast, -2 for a direct
// broadcast to a node nobody runs), lane names the sender's sequence (a goroutine's, say), seq counts
// from 1 in each lane, and the padding repeats the token, so that a receiver can rebuild the exact
// bytes from the fields and tell a frame changed in transit.
const framePrefix = "pubsubtest:"

// Values of frameID.to that are not node indexes.
const (
	toAll     = -1 // Broadcast
	toUnknown = -2 // DirectBroadcast to unknownNode
)

// clobber is the byte the suite overwrites a frame's buffer with once the call that sent it returns.
const clobber = '#'

// frameID says which frame the suite sent.
type frameID struct {
	from, to int
	lane     string
	seq      int
}

// stream names the sequence a frame belongs to, as a receiver sees it: the sender, the target (or * for
// every node), and the lane.
func (id frameID) stream() string {
	to := "*"
	if id.to != toAll {
		to = strconv.Itoa(id.to)
	}
	return fmt.Sprintf("%d>%s/%s", id.from, to, id.lane)
}

func (id frameID) String() string { return fmt.Sprintf("%d of stream %s", id.seq, id.stream()) }

// topic is the Frame.Topic the frame is sent with: a few topics per stream, so that an adapter that
// routes by topic shows whether it keeps order across topics.
func (id frameID) topic() string { return "pubsubtest.t" + strconv.Itoa(id.seq%suiteTopics) }

// suiteTopics is how many topics the suite's frames are spread over.
const suiteTopics = 4

// appendFrame appends the bytes of frame id of the cluster with token to b.
func appendFrame(b []byte, token string, id frameID) []byte {
	b = fmt.Appendf(b, "%s%s:%d:%d:%s:%d:", framePrefix, token, id.from, id.to, id.lane, id.seq)
	for range 4 {
		b = append(b, token...)
	}
	return b
}

var errForeignFrame = errors.New("a frame of another PubSub (adapters namespace their traffic with Host.Name)")

// parseFrame returns the id of a frame of the cluster with token, or why raw is not one, as sent.
func parseFrame(token, raw string) (frameID, error) {
	rest, ok := strings.CutPrefix(raw, framePrefix)
	if !ok {
		if strings.Contains(raw, strings.Repeat(string(clobber), 4)) {
			return frameID{}, errors.New("the bytes of a sender's buffer after the call that sent it returned")
		}
		return frameID{}, errors.New("not a frame the suite sent")
	}
	f := strings.SplitN(rest, ":", 6)
	if len(f) < 6 {
		return frameID{}, errors.New("a frame the suite sent, cut short")
	}
	if f[0] != token {
		return frameID{}, errForeignFrame
	}
	var id frameID
	var err1, err2, err3 error
	id.from, err1 = strconv.Atoi(f[1])
	id.to, err2 = strconv.Atoi(f[2])
	id.lane = f[3]
	id.seq, err3 = strconv.Atoi(f[4])
	if err := errors.Join(err1, err2, err3); err != nil || string(appendFrame(nil, token, id)) != raw {
		return frameID{}, errors.New("a frame the suite sent, changed in transit or by the sender's reuse of its buffer")
	}
	return id, nil
}
