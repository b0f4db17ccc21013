package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One line per key per interval, whatever the flood; the next line says how many were suppressed.
func TestOneLinePerKeyPerInterval(t *testing.T) {
	var buf bytes.Buffer
	r := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	for range 1000 {
		r.LogAt(slog.LevelWarn, "a", "dropped")
		r.LogAt(slog.LevelWarn, "b", "dropped")
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for two keys, want 2:\n%s", n, buf.String())
	}
	r.interval = 0
	r.LogAt(slog.LevelWarn, "a", "dropped")
	if !strings.Contains(buf.String(), "suppressed_since_last=999") {
		t.Fatalf("the next line does not count the suppressed ones:\n%s", buf.String())
	}
}
