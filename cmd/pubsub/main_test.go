package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demoLines are narration lines every demo run must print (with the default flags).
var demoLines = []string{
	`PubSub "demo" started on node "demo@localhost" (local adapter, no Redis)`,
	`   alice joined "room:lobby"`,
	`   carol received "hello, everyone"`,
	`   bob received "hi, it's alice"`,
	`   alice received nothing (she sent it)`,
	`   3 sockets joined "room:game" with fastlane metadata`,
	`   socket 1 wrote {"topic":"room:game","payload":{"player":"alice","points":10}}`,
	`   socket 3 wrote {"topic":"room:game","payload":{"player":"alice","points":10}}`,
	`   dave received {Player:alice Points:10} (a plain Message in the mailbox)`,
	`   encoded once, written to 3 sockets`,
	`   erin's mailbox holds 2; 3 dropped`,
	`   slow consumer reported: subscriber `,
	`   erin caught up and received tick 5; still 3 dropped, reported once`,
	`Done.`,
}

func assertLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, line := range want {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q; got:\n%s", line, out)
		}
	}
}

// TestRun runs the program in-process, so that goleak sees whatever it leaves behind.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		quietOut   bool // nothing on stdout
		quietError bool // nothing on stderr
	}{
		{name: "demo", args: []string{"demo"}, code: exitOK, stdout: demoLines, quietError: true},
		{name: "demo flags", args: []string{"demo", "-sockets", "1", "-mailbox=1"}, code: exitOK,
			stdout: []string{"   1 socket joined", "   encoded once, written to 1 socket\n", "erin's mailbox holds 1; 3 dropped"}, quietError: true},
		{name: "help", args: []string{"--help"}, code: exitOK, stdout: []string{"Usage:\n  pubsub <command> [flags]", "  demo "}, quietError: true},
		{name: "-h", args: []string{"-h"}, code: exitOK, stdout: []string{"Commands:"}, quietError: true},
		{name: "help command", args: []string{"help"}, code: exitOK, stdout: []string{"Commands:"}, quietError: true},
		{name: "demo help", args: []string{"demo", "--help"}, code: exitOK, stdout: []string{"pubsub demo [flags]", "-sockets count", "-mailbox size"}, quietError: true},
		{name: "help demo", args: []string{"help", "demo"}, code: exitOK, stdout: []string{"pubsub demo [flags]"}, quietError: true},
		{name: "no command", args: nil, code: exitUsage, stderr: []string{"Commands:"}, quietOut: true},
		{name: "unknown command", args: []string{"frob"}, code: exitUsage, stderr: []string{`pubsub: unknown command "frob"`, "Run 'pubsub --help'"}, quietOut: true},
		{name: "unknown flag", args: []string{"--frob"}, code: exitUsage, stderr: []string{"pubsub: flag provided but not defined: -frob"}, quietOut: true},
		{name: "demo unknown flag", args: []string{"demo", "-nope"}, code: exitUsage, stderr: []string{"pubsub demo: flag provided but not defined: -nope", "Run 'pubsub demo --help'"}, quietOut: true},
		{name: "demo bad value", args: []string{"demo", "-sockets", "many"}, code: exitUsage, stderr: []string{`invalid value "many" for flag -sockets`}, quietOut: true},
		{name: "demo out of range", args: []string{"demo", "-mailbox", "0"}, code: exitUsage, stderr: []string{"pubsub demo: -mailbox 0 is outside 1..100"}, quietOut: true},
		{name: "demo extra argument", args: []string{"demo", "now"}, code: exitUsage, stderr: []string{`pubsub demo: unexpected argument "now"`}, quietOut: true},
		{name: "help unknown", args: []string{"help", "frob"}, code: exitUsage, stderr: []string{`pubsub help: unknown command "frob"`}, quietOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, &stdout, &stderr)
			}
			assertLines(t, stdout.String(), tc.stdout...)
			assertLines(t, stderr.String(), tc.stderr...)
			if tc.quietOut && stdout.Len() > 0 {
				t.Errorf("unexpected stdout:\n%s", &stdout)
			}
			if tc.quietError && stderr.Len() > 0 {
				t.Errorf("unexpected stderr:\n%s", &stderr)
			}
		})
	}
}

func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"demo"}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("exit status %d, want %d", code, exitFailure)
	}
	assertLines(t, stderr.String(), "pubsub demo: context canceled")
}

// TestBinary builds the command and runs it as a user would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	bin := filepath.Join(t.TempDir(), "pubsub")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runBin := func(t *testing.T, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("pubsub %s did not end within 30s", strings.Join(args, " "))
		}
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr):
			code = exitErr.ExitCode()
		default:
			t.Fatalf("run pubsub: %v", err)
		}
		t.Logf("pubsub %s: exit %d in %v", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond))
		return code, out.String(), errOut.String()
	}

	t.Run("demo", func(t *testing.T) {
		code, stdout, stderr := runBin(t, "demo")
		if code != 0 || stderr != "" {
			t.Fatalf("exit status %d, stderr %q", code, stderr)
		}
		assertLines(t, stdout, demoLines...)
	})
	t.Run("bad flag", func(t *testing.T) {
		code, stdout, stderr := runBin(t, "demo", "-nope")
		if code != 2 {
			t.Fatalf("exit status %d, want 2", code)
		}
		if stdout != "" || strings.Contains(stderr, "goroutine ") {
			t.Fatalf("want only an error on stderr; stdout %q, stderr %q", stdout, stderr)
		}
		assertLines(t, stderr, "flag provided but not defined: -nope")
	})
	t.Run("unknown command", func(t *testing.T) {
		code, _, stderr := runBin(t, "nodes")
		if code != 2 {
			t.Fatalf("exit status %d, want 2", code)
		}
		assertLines(t, stderr, `unknown command "nodes"`)
	})
}
