//go:build !race

package redisadapter

const raceEnabled = false
