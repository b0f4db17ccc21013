package adapters_test

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/adapters"
	"github.com/phxgo/pubsub/localadapter"
	"github.com/phxgo/pubsub/redisadapter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpen(t *testing.T) {
	for _, url := range []string{"", "local:"} {
		a, err := adapters.Open(url, adapters.Options{NodeName: "n1"})
		if err != nil {
			t.Fatal(err)
		}
		if la, ok := a.(*localadapter.Adapter); !ok || la.NodeName() != "n1" {
			t.Fatalf("Open(%q) = %#v", url, a)
		}
	}
	for _, url := range []string{"redis://127.0.0.1:6379/0", "rediss://user:pw@example.com:6380/1"} {
		a, err := adapters.Open(url, adapters.Options{NodeName: "n2"})
		if err != nil {
			t.Fatal(err)
		}
		ra, ok := a.(*redisadapter.Adapter)
		if !ok || ra.NodeName() != "n2" {
			t.Fatalf("Open(%q) = %#v", url, a)
		}
		ra.Close()
	}
	_, err := adapters.Open("nats://user:hunter2@host:4222", adapters.Options{})
	if !errors.Is(err, pubsub.ErrInvalidConfig) || !strings.Contains(err.Error(), `unknown scheme "nats"`) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
	if _, err := adapters.Open("redis://host:notaport/x", adapters.Options{}); !errors.Is(err, pubsub.ErrInvalidConfig) {
		t.Fatalf("bad redis URL: err = %v", err)
	}
}
