package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBenchConnections(t *testing.T) {
	for _, mode := range []string{"handler", "reader"} {
		t.Run(mode, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"bench", "connections", "--clients", "300", "--room-size", "100", "--duration", "5ms", "--mode", mode}, &out, &errOut)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, want := range []string{"heap per connection", "room fan-out to 100: delivery latency p50 / p99", "CPU per delivered message", "own topics"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
	for _, bad := range [][]string{{"--clients", "0"}, {"--room-size", "20", "--clients", "10"}, {"--mode", "x"}, {"extra"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"bench", "connections"}, bad...), &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, exitUsage, errOut.String())
		}
	}
}
