package redisadapter

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/phxgo/pubsub"
)

// Routing by topic (Config.RouteByTopic): a topic's broadcasts go to the channel of its bucket, and a
// node subscribes to the buckets of the topics its subscribers hold (see bucketTable). The bucket of a
// topic is the FNV-1a hash of the topic modulo the bucket count: the same on every node and in every
// process, unlike maphash. Channel names, in docs/protocol.md ("Routed channels"):
//
//	prefix:{pubsub name}:b:<bucket in hex>
//
// Topics with one of Config.BroadcastPrefixes, and the reserved topics, are not routed: they go to the
// broadcast channel every node keeps.

// topicHash is the 64-bit FNV-1a hash of topic.
func topicHash(topic string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(topic); i++ {
		h ^= uint64(topic[i])
		h *= 1099511628211
	}
	return h
}

// routes is the adapter's routing: nil methods are never called without RouteByTopic.
type routes struct {
	buckets  int
	mask     uint64
	prefixes []string
	chPrefix string // "prefix:{name}:b:"; "prefix:{" when sharded
	// Sharded (Redis Cluster): bucket b belongs to partition b % parts, whose channels share the hash
	// tag of partPrefix[b % parts] ("prefix:{name.p.i}:b:"), and so one slot.
	parts      int
	partPrefix []string
	names      [routeNameCache]atomic.Pointer[routeName]
}

// routeNameCache is the size of the cache of bucket channel names (a direct-mapped cache indexed by
// the bucket's low bits): a node broadcasting on many topics builds a name per broadcast only when two
// of its busy buckets share a slot.
const routeNameCache = 4096

type routeName struct {
	bucket int
	name   string
	arg    any // name, boxed once for go-redis
}

// newRoutes returns the routing of cfg; its channel names are set by Start (routePrefix), once the
// PubSub's name is known.
func newRoutes(cfg Config) *routes {
	return &routes{buckets: cfg.Buckets, mask: uint64(cfg.Buckets - 1), prefixes: cfg.BroadcastPrefixes}
}

// routePrefix starts the names of the bucket channels.
func (c channels) routePrefix() string { return c.prefix + "b:" }

// route returns the bucket of topic, or -1 for a topic every node receives.
func (r *routes) route(topic string) int {
	if topic == pubsub.GapTopic {
		return -1
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(topic, p) {
			return -1
		}
	}
	return int(topicHash(topic) & r.mask)
}

// partition returns the partition of bucket (0 when not sharded).
func (r *routes) partition(bucket int) int {
	if r.parts <= 1 {
		return 0
	}
	return bucket % r.parts
}

// prefixOf returns the start of bucket's channel name.
func (r *routes) prefixOf(bucket int) string {
	if r.partPrefix != nil {
		return r.partPrefix[bucket%r.parts]
	}
	return r.chPrefix
}

// channel returns the channel of bucket, and the name boxed for go-redis.
func (r *routes) channel(bucket int) (string, any) {
	slot := &r.names[bucket%routeNameCache]
	if n := slot.Load(); n != nil && n.bucket == bucket {
		return n.name, n.arg
	}
	name := r.prefixOf(bucket) + strconv.FormatUint(uint64(bucket), 16)
	n := &routeName{bucket: bucket, name: name, arg: name}
	slot.Store(n)
	return n.name, n.arg
}

// bucketOf parses the bucket of a channel name, or returns -1 when channel is not a bucket's channel.
// It allocates nothing.
func (r *routes) bucketOf(channel string) int {
	hex, ok := strings.CutPrefix(channel, r.chPrefix)
	if ok && r.partPrefix != nil {
		i := strings.LastIndexByte(channel, ':')
		hex, ok = channel[i+1:], true
	}
	if !ok || len(hex) == 0 || len(hex) > 8 {
		return -1
	}
	b := 0
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		switch {
		case c >= '0' && c <= '9':
			b = b<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			b = b<<4 | int(c-'a'+10)
		default:
			return -1
		}
	}
	if b >= r.buckets || (len(hex) > 1 && hex[0] == '0') {
		return -1 // not a name this adapter builds
	}
	if r.partPrefix != nil && channel[:len(channel)-len(hex)] != r.partPrefix[b%r.parts] {
		return -1 // another partition's tag
	}
	return b
}

// shard makes the routes sharded over parts partitions for the PubSub channels ch (see
// newChannels): partition p's hash tag is chosen so that its slot falls in the p-th of parts equal
// ranges of the 16,384 slots, so that partitions spread over the masters as evenly as the slots do
// (a cluster made by redis-cli --cluster create gives each master one contiguous range).
func (r *routes) shard(prefix, pubsubName string, parts int) {
	r.parts = parts
	r.chPrefix = prefix + ":{"
	r.partPrefix = make([]string, parts)
	for p := range parts {
		lo, hi := p*clusterSlots/parts, (p+1)*clusterSlots/parts
		base := pubsubName + "." + strconv.Itoa(p) + "."
		for i := 0; ; i++ {
			tag := base + strconv.Itoa(i)
			if slot := int(crc16(tag) % clusterSlots); slot >= lo && slot < hi {
				r.partPrefix[p] = prefix + ":{" + tag + "}:b:"
				break
			}
		}
	}
}

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// crc16 is Redis Cluster's key hash: CRC-16/XMODEM (polynomial 0x1021, initial value 0).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
