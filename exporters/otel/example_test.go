package otelexporter_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/phxgo/pubsub"
	otelexporter "github.com/phxgo/pubsub/exporters/otel"
)

// A PubSub's counters on an OpenTelemetry meter. A program passes its own meter (otel.Meter(…), from the
// MeterProvider its exporter feeds); here a ManualReader shows what the SDK collects. With a Redis adapter,
// a tracker or a presence, add WithRedisAdapter(ps, adapter) (or WithPhoenixAdapter), WithTracker(ps,
// trackerName, t) and WithPresence(ps, trackerName, p).
func Example() {
	ctx := context.Background()
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()

	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := otelexporter.Register(provider.Meter("github.com/phxgo/pubsub"), otelexporter.WithPubSub(ps))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != "phxgo.pubsub.received" {
			continue
		}
		for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
			fmt.Println(m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value)
		}
	}
	// Output:
	// phxgo.pubsub.received node=nonode@nohost,pubsub=app 0
}
