// Command pubsub is the command line of github.com/phxgo/pubsub.
//
// Usage:
//
//	pubsub <command> [flags]
//
// The commands are:
//
//	demo     three nodes on an embedded Redis (or --redis URL), narrating what crosses between them;
//	         with --web, a chat room with live presence served to browsers by two or three nodes
//	tail     print the broadcasts of a PubSub on Redis as they arrive: topic, origin node, payload
//	publish  broadcast a message (or each line of standard input) to a PubSub on Redis
//	nodes    list the live nodes of a PubSub on Redis, from their liveness probes
//	presence list the presences of a topic in a tracker (package tracker) of a PubSub on Redis
//	bench    measure the local path and, with --redis, the Redis path against raw baselines
//
// Run "pubsub <command> --help" for a command's flags. Flags may come before or after the arguments;
// "--" ends the flags.
//
// The exit status is 0 on success; 1 when a command fails, or is interrupted (Ctrl-C) before it
// finished; and 2 when it could not start: a usage error (an unknown command or flag, a missing
// argument, a bad value or URL), or a Redis that cannot be reached or joined. "pubsub tail" runs until
// it is interrupted and then exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand: "pubsub <name> [flags]".
type command struct {
	name    string
	summary string // one line for the command list
	// run runs the command with the arguments after its name and returns the exit status. It parses
	// its own flags, with parseFlags.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order usage shows them. A function rather than a variable, so
// that a command may print the list (help) without an initialisation cycle.
func commands() []command {
	return []command{
		{name: "demo", summary: "three nodes on an embedded Redis (or --redis), narrating each step; --web: a chat room for browsers", run: runDemo},
		{name: "tail", summary: "print broadcasts on topics of a PubSub on Redis as they arrive", run: runTail},
		{name: "publish", summary: "broadcast a message, or each line of standard input", run: runPublish},
		{name: "nodes", summary: "list the live nodes of a PubSub on Redis", run: runNodes},
		{name: "presence", summary: "list the presences of a topic in a tracker of a PubSub on Redis", run: runPresence},
		{name: "bench", summary: "benchmark the local path and, with --redis, the Redis path", run: runBench},
	}
}

// stdin is what "pubsub publish" reads messages from; tests replace it.
var stdin io.Reader = os.Stdin

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C asks the command to stop cleanly; a second one kills the process.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it runs the command args name and returns the exit status. ctx ends when
// the program is interrupted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	silenceRedisLog()
	fs := flag.NewFlagSet("pubsub", flag.ContinueOnError)
	if code, ok := parseFlags(fs, args, stdout, stderr, usage); !ok {
		return code
	}
	args = fs.Args()
	if len(args) == 0 {
		usage(stderr, fs)
		return exitUsage
	}
	name, args := args[0], args[1:]
	if name == "help" {
		return runHelp(ctx, args, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "pubsub: unknown command %q\nRun 'pubsub --help' for usage.\n", name)
	return exitUsage
}

// runHelp is "pubsub help [command]": the same as "pubsub --help" or "pubsub <command> --help".
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		return run(ctx, []string{"--help"}, stdout, stderr)
	case 1:
		for _, c := range commands() {
			if c.name == args[0] {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "pubsub help: unknown command %q\nRun 'pubsub --help' for usage.\n", args[0])
	default:
		fmt.Fprintln(stderr, "pubsub help: too many arguments\nRun 'pubsub --help' for usage.")
	}
	return exitUsage
}

// usage prints the program's usage and its command list to w.
func usage(w io.Writer, _ *flag.FlagSet) {
	fmt.Fprintln(w, "pubsub: Phoenix.PubSub for Go, from the command line.")
	fmt.Fprintln(w, "\nUsage:\n  pubsub <command> [flags] [arguments]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'pubsub <command> --help' for a command's flags. Start with 'pubsub demo'.")
	fmt.Fprintln(w, "Exit status: 0 done; 1 failed or interrupted; 2 usage error, or Redis unreachable.")
}

// parseFlags parses args with fs, printing nothing itself on success. On -h or --help it prints
// printUsage to stdout and returns exitOK; on a bad flag it prints the error and a hint to stderr and
// returns exitUsage. ok reports whether the command should go on.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, printUsage func(io.Writer, *flag.FlagSet)) (code int, ok bool) {
	fs.SetOutput(io.Discard) // errors and usage are printed here, to the right stream
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, fs)
		return exitOK, false
	default:
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", fs.Name(), err, fs.Name())
		return exitUsage, false
	}
}

// parseArgs is parseFlags for a command with arguments: flags may also follow the arguments
// ("pubsub tail room:1 --json"), and "--" ends the flags. It returns the arguments.
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, printUsage func(io.Writer, *flag.FlagSet)) (positional []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(fs, args, stdout, stderr, printUsage); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, exitOK, true
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), exitOK, true
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError reports a usage error found after parsing (a bad flag value, an extra argument) and returns
// exitUsage.
func usageError(stderr io.Writer, fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", fs.Name(), fmt.Sprintf(format, args...), fs.Name())
	return exitUsage
}

// printFlags prints fs's flags and their defaults to w.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
