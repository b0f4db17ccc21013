package phoenixpresence

func stopLiveRedis() {}
