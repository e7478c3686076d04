// Command purge is the bus-side twin of Akamai's "akamai purge" CLI: it
// publishes content-changed events for the purgebus consumer to purge,
// shows their results and replays dead letters.
//
// Usage:
//
//	purge invalidate|delete [--cpcode|--tag] [--staging|--production] [--wait] [--json] [objects...]
//	purge results [--follow] [--outcome failed] [--since 1h] [--id ID] [--json]
//	purge deadletters list [--since 7d] [--id ID] [--json] [--follow]
//	purge deadletters replay --since 7d|--id ID|--all [--dry-run] [--json]
//
// Objects are URLs unless --tag or --cpcode says otherwise; without
// arguments they are read from standard input, one per line. Flags may
// come before or after the objects; "--" ends the flags. Every subcommand
// takes the NATS connection flags of cmd/consumer (--nats-url, --nats-creds,
// --nats-nkey, --nats-user, --nats-password, --nats-token, --nats-tls-ca,
// --nats-tls-cert, --nats-tls-key) and reads them from the same environment
// variables (NATS_URL, NATS_CREDS, PURGEBUS_NATS_*); "purge <command>
// --help" lists them all.
//
// Exit status: 0 on success; 1 when something went wrong (NATS unreachable,
// no result within --timeout); 2 for a command line that cannot work; 3
// when --wait saw an outcome other than succeeded.
//
// # Examples
//
// Invalidate two URLs and return once JetStream stored the event:
//
//	purge invalidate https://www.example.com/a 'https://www.example.com/b?x=1'
//
// Invalidate cache tags on staging, wait for Akamai's answer and print the
// purge IDs and the estimated completion:
//
//	purge invalidate --tag --staging news sports --wait
//
// Delete every URL listed in a file; a script reads the result events:
//
//	purge delete --wait --json < urls.txt | jq -r '.purges[].purge_id'
//
// CP codes, against a remote cluster with a credentials file:
//
//	NATS_URL=tls://nats.example.com:4222 NATS_CREDS=purge.creds purge invalidate --cpcode 12345
//
// What failed in the last hour, and a live tail of everything:
//
//	purge results --outcome failed --since 1h
//	purge results --follow
//
// Inspect dead letters, fix the cause (say, raise the consumer's
// --max-event-bytes), then replay them; a second replay within the
// content stream's duplicates window (2 minutes) is not doubled:
//
//	purge deadletters list --since 1d
//	purge deadletters replay --since 1d
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/internal/version"
)

// Exit statuses.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitNotSuccess = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// cli is one invocation's surroundings, so that nothing reads globals and
// tests can run many invocations side by side.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// perms records the requests the NATS server refused for lack of
	// permission; cleanup runs when the command ends.
	perms   bus.Permissions
	cleanup []func()
}

// notSuccessError reports a --wait whose outcome was not succeeded; the
// outcome itself was already printed.
type notSuccessError struct{ n int }

func (e *notSuccessError) Error() string {
	return fmt.Sprintf("%d event(s) did not succeed", e.n)
}

// run is the whole command: it returns the exit status instead of exiting.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
	if len(args) == 0 {
		c.topUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	var (
		cmd *command
		err error
	)
	switch name {
	case "invalidate", "delete":
		cmd, err = c.purge(ctx, name, rest)
	case "results":
		cmd, err = c.results(ctx, rest)
	case "deadletters":
		cmd, err = c.deadLetters(ctx, rest)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version.String("purge"))
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" && rest[0][0] != '-' {
			// "purge help results" is "purge results --help".
			return run(ctx, []string{rest[0], "--help"}, stdin, stdout, stderr, lookupEnv)
		}
		c.topUsage(stdout)
		return exitOK
	default:
		if name != "" && name[0] == '-' {
			fmt.Fprintf(stderr, "purge: the command comes first: purge <command> %s ...\n\n", name)
		} else {
			fmt.Fprintf(stderr, "purge: unknown command %q\n\n", name)
		}
		c.topUsage(stderr)
		return exitUsage
	}
	for _, f := range c.cleanup {
		f()
	}
	if perr := c.perms.Err(); perr != nil {
		switch {
		case err == nil:
			// Refused on the side (say, cleaning up): the command did
			// its job, but the user's permissions need a look.
			fmt.Fprintf(stderr, "purge %s: warning: %v\n", cmd.name, perr)
		default:
			// The refusal ended the command's context: name it
			// along with what it interrupted.
			err = bus.WithRefusal(err, perr)
		}
	}
	var ue *usageError
	var ns *notSuccessError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		cmd.printUsage(stdout)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "purge %s: %v\nRun 'purge %s --help' for usage.\n", cmd.name, err, cmd.name)
		return exitUsage
	case errors.As(err, &ns):
		return exitNotSuccess
	}
	fmt.Fprintf(stderr, "purge %s: %v\n", cmd.name, err)
	return exitError
}

func (c *cli) topUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: purge <command> [flags] [arguments]

purge publishes content-changed events to NATS for the purgebus consumer, the
bus-side twin of Akamai's "akamai purge" CLI.

Commands:
  invalidate [objects...]   mark objects stale (Akamai's recommended purge)
  delete [objects...]       remove objects from the cache
  results                   print purge results (--follow, --outcome, --since)
  deadletters list          print events that could never succeed
  deadletters replay        re-publish dead letters once their cause is fixed

Objects are URLs, or cache tags with --tag, or CP codes with --cpcode; without
arguments they are read from standard input, one per line. Flags may come
before or after the objects.

Exit status: 0 on success, 1 on errors, 2 for a bad command line, 3 when
--wait saw an outcome other than succeeded.

Run 'purge <command> --help' for its flags, 'purge --version' for the version.
`)
}
