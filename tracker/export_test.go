package tracker

import "slices"

// RaceEnabled tells the external tests whether the race detector is on (timing targets are checked
// without it).
const RaceEnabled = raceEnabled

// ShardOf returns the index of the shard of topic in a tracker of poolSize shards (Tracker.shardFor).
func ShardOf(topic string, poolSize int) int {
	t := &Tracker{shards: make([]*shard, poolSize)}
	for i := range t.shards {
		t.shards[i] = &shard{}
	}
	return slices.Index(t.shards, t.shardFor(topic))
}
