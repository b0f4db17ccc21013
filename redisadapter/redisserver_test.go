package redisadapter_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisServerBinary returns the redis-server to start private instances with (PHXGO_REDIS_SERVER).
// Without one the test is skipped, unless PHXGO_REDIS_REQUIRED=1 (as in CI), which fails it instead.
func redisServerBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("PHXGO_REDIS_SERVER")
	if bin == "" {
		if os.Getenv("PHXGO_REDIS_REQUIRED") == "1" {
			t.Fatal("PHXGO_REDIS_SERVER is not set but PHXGO_REDIS_REQUIRED=1: real-Redis tests must run")
		}
		t.Skip("set PHXGO_REDIS_SERVER=$(command -v redis-server) to run the tests that need a private redis-server")
	}
	return bin
}

// redisOptions configures a private redis-server.
type redisOptions struct {
	// Args are extra command-line arguments ("--client-output-buffer-limit", "pubsub 1mb 512kb 5").
	Args []string
	// TLS makes the server listen with TLS only (--port 0 --tls-port P): Args must name the
	// certificate files, and TLS is the client configuration the helper checks readiness with.
	TLS *tls.Config
}

// redisServer is a private redis-server process on a free port of 127.0.0.1, for tests that kill,
// restart or reconfigure Redis. It is killed at the end of the test.
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts redisOptions

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	starts int
}

// startRedis starts a private redis-server with extra arguments, or fails the test.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	s, err := startRedisWith(t, redisOptions{Args: args})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startRedisWith starts a private redis-server, or returns why it would not start (its log says).
func startRedisWith(t testing.TB, opts redisOptions) (*redisServer, error) {
	t.Helper()
	s := &redisServer{t: t, bin: redisServerBinary(t), dir: t.TempDir(), opts: opts}
	t.Cleanup(s.Kill)
	var err error
	for range 3 { // a free port can be taken between our probe and the server's bind: try another
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = s.start(); err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	return nil, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns host:port.
func (s *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns the redis:// URL of database 0 (rediss:// for a TLS server).
func (s *redisServer) URL() string {
	if s.opts.TLS != nil {
		return "rediss://" + s.Addr() + "/0"
	}
	return "redis://" + s.Addr() + "/0"
}

// LogPath is the server's log file.
func (s *redisServer) LogPath() string { return filepath.Join(s.dir, "redis.log") }

// Log returns what the server has logged so far.
func (s *redisServer) Log() string {
	b, _ := os.ReadFile(s.LogPath())
	return string(b)
}

// start runs the server on s.port and waits until it answers PING.
func (s *redisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts++
	args := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", s.dir, "--logfile", s.LogPath()}
	if s.opts.TLS != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.port))
	} else {
		args = append(args, "--port", strconv.Itoa(s.port))
	}
	args = append(args, s.opts.Args...)
	out, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("stdout-%d.txt", s.starts)))
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := s.ping(); err == nil {
			return nil
		}
		select {
		case <-exited:
			output, _ := os.ReadFile(out.Name())
			return fmt.Errorf("redis-server %s exited at start: %s%s", strings.Join(args, " "), output, s.Log())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer PING within 10s: %s", s.port, s.Log())
		}
	}
}

// ping sends PING over a new connection and expects +PONG.
func (s *redisServer) ping() error {
	d := net.Dialer{Timeout: time.Second}
	var c net.Conn
	var err error
	if s.opts.TLS != nil {
		c, err = tls.DialWithDialer(&d, "tcp", s.Addr(), s.opts.TLS)
	} else {
		c, err = d.Dial("tcp", s.Addr())
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Kill kills the server with SIGKILL (no shutdown, no save) and waits until it is gone. Killing a
// server that is not running does nothing.
func (s *redisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the killed server again on the same port and returns the moment it answered PING.
func (s *redisServer) Restart() time.Time {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return time.Now()
		}
		// The port can linger for a moment after a kill; anything else is fatal.
		if !strings.Contains(err.Error(), "in use") || time.Now().After(deadline) {
			s.t.Fatalf("restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// builtWithoutTLS reports whether err, from starting a TLS server, says that the redis-server has no
// TLS support: redis-server up to 7.0 built without BUILD_TLS rejects the tls-* options as a "Bad
// directive"; 7.2 and later (TLS as a connection type or module) say it is not built in.
func builtWithoutTLS(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "tls") &&
		(strings.Contains(msg, "bad directive") || strings.Contains(msg, "not builtin") ||
			strings.Contains(msg, "not built") || strings.Contains(msg, "not supported"))
}
