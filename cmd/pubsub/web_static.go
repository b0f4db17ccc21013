package main

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"

	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/presence"
)

// webAssets are the page and its script and style: plain HTML, JavaScript and CSS, no build step.
//
//go:embed web
var webAssets embed.FS

// routes are a node's HTTP handlers: the page, its info, and the WebSocket.
func (n *webNode) routes() http.Handler {
	static, err := fs.Sub(webAssets, "web")
	if err != nil {
		panic(err) // the embedded directory is there: the build includes it
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /info", n.serveInfo)
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		if !n.enter() {
			http.Error(w, "the node is stopping", http.StatusServiceUnavailable)
			return
		}
		defer n.conns.Done()
		n.serveWS(w, r)
	})
	return mux
}

// webInfo is what GET /info returns: which node serves the page, its room, every node, and the node's
// counters.
type webInfo struct {
	Node  string    `json:"node"`
	Room  string    `json:"room"`
	Nodes []webPeer `json:"nodes"`
	Stats webStats  `json:"stats"`
}

// webStats are a node's counters, as GET /info shows them.
type webStats struct {
	BadMessages uint64         `json:"bad_messages"` // messages from browsers refused (answered with phx_error)
	Fastlane    fastlane.Stats `json:"fastlane"`     // encodes (one per broadcast per node) and writes (one per browser)
	Presence    presence.Stats `json:"presence"`     // presence diffs delivered
}

func (n *webNode) serveInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(webInfo{Node: n.name, Room: webRoom, Nodes: n.peers, Stats: webStats{
		BadMessages: n.badMessages.Load(),
		Fastlane:    n.fastlane.Stats(),
		Presence:    n.presence.Stats(),
	}})
}
