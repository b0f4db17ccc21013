package promexporter_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phxgo/pubsub"
	promexporter "github.com/phxgo/pubsub/exporters/prometheus"
)

// A PubSub's counters on a /metrics endpoint. With a Redis adapter, a tracker or a presence, add
// WithRedisAdapter(ps, adapter) (or WithPhoenixAdapter), WithTracker(ps, trackerName, t) and
// WithPresence(ps, trackerName, p).
func Example() {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(promexporter.NewCollector(promexporter.WithPubSub(ps)))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})) // or: http.Handle("/metrics", …)
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if line := lines.Text(); strings.HasPrefix(line, "phxgo_pubsub_dropped_total") && strings.Contains(line, "malformed") ||
			strings.HasPrefix(line, "phxgo_pubsub_received_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// phxgo_pubsub_dropped_total{node="nonode@nohost",pubsub="app",reason="malformed"} 0
	// phxgo_pubsub_received_total{node="nonode@nohost",pubsub="app"} 0
}
