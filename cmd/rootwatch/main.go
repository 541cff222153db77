// Command rootwatch detects use of an AWS account's root user in CloudTrail.
//
//	rootwatch scan PATH...      run the rules over local CloudTrail files, a directory or stdin
//	rootwatch scan s3://B/P     run the rules over a window of a trail's S3 archive
//	rootwatch backfill          run the rules over CloudTrail LookupEvents history (--alert: alert)
//	rootwatch run               the service: consume SQS notifications, read S3 objects, alert
//	rootwatch rules list|test   inspect and test Sigma rules
//	rootwatch notify test       send a test alert through every configured sink
//	rootwatch audit             check root users against the practices (MFA, no keys, e-mail, contact)
//	rootwatch config            print every setting (flag and environment variable)
//	rootwatch version
//
// cmd only wires configuration to components; the logic lives in detector,
// ingest and notify.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitPartial = 1 // some input could not be read fully (scan) or the service failed at run time
	exitUsage   = 2 // bad usage, bad configuration, bad rule
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is the process environment as seen by the commands.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run executes the command line args and returns the exit code. It touches
// no process globals, so tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "rootwatch: %v\n", err)
		var ee *exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(stderr, "Run 'rootwatch --help' for usage.")
		}
	}
	return exitCode(err)
}
