package phoenixpresence

import "github.com/phxgo/pubsub/internal/phoenixpeer"

// The live tests run against a real Elixir node (../shared/interop), through internal/phoenixpeer: they
// skip without PHOENIX_PEER, and fail instead with PHOENIX_PEER_REQUIRED=1 (CI).
type peer = phoenixpeer.Peer

var (
	startPeer     = phoenixpeer.Start
	peerScript    = phoenixpeer.Script
	liveRedis     = phoenixpeer.Redis
	stopLiveRedis = phoenixpeer.StopRedis
	uniqueName    = phoenixpeer.UniqueName
	jsonOf        = phoenixpeer.JSONOf
	ctxT          = phoenixpeer.Ctx
)
