package tracker_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// privateRedis is a redis-server process of the test's own (PHXGO_REDIS_SERVER), on a free port of
// 127.0.0.1, that the test can stop and start again on the same port: a Redis restart. Killed at the end
// of the test.
type privateRedis struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startPrivateRedis starts a private redis-server, skipping the test without PHXGO_REDIS_SERVER (failing
// it if PHXGO_REDIS_REQUIRED=1).
func startPrivateRedis(t testing.TB) *privateRedis {
	t.Helper()
	bin := os.Getenv("PHXGO_REDIS_SERVER")
	if bin == "" {
		if os.Getenv("PHXGO_REDIS_REQUIRED") == "1" {
			t.Fatal("PHXGO_REDIS_SERVER is not set but PHXGO_REDIS_REQUIRED=1: real-Redis tests must run")
		}
		t.Skip("set PHXGO_REDIS_SERVER=$(command -v redis-server) to run the tests that restart a redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &privateRedis{t: t, bin: bin, dir: t.TempDir(), port: port}
	t.Cleanup(r.stop)
	r.start()
	return r
}

// URL returns the server's redis:// URL.
func (r *privateRedis) URL() string { return "redis://" + r.addr() + "/0" }

func (r *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start runs the server and waits until it accepts connections.
func (r *privateRedis) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(r.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatal(fmt.Sprintf("redis-server on %s did not start: %v\n%s", r.addr(), err, b))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (a crash: every connection drops) and waits for it to exit.
func (r *privateRedis) stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}
