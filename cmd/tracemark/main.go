// Command tracemark embeds, detects and benchmarks keyed token-level
// watermarks on LLM output. See the README for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes follow grep and ripgrep.
const (
	exitFound    = 0 // a watermark was found in at least one input
	exitNotFound = 1 // no input carries the watermark
	exitError    = 2 // bad usage, unreadable input, bad key, ...
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode is returned by actions that finish with a code other than 0
// without an error message of their own (their diagnostics are printed).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// env carries the process's streams to the commands, so tests can run the
// whole CLI in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	args           []string // the command line, for evidence files (redacted there)
}

// run executes the CLI and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, args: args}
	app := &cli.App{
		Name:  "tracemark",
		Usage: "keyed token-level watermarks for LLM output: embed, detect, benchmark",
		Description: "Exit codes: 0 watermark found in at least one input, 1 none found, 2 error.\n" +
			"Keys come from --key FILE or the environment variable TRACEMARK_KEY (the key file's contents).",
		Version:         version(),
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// --key values are paths: never split them on commas (a pasted key
		// file would be split and echoed piece by piece).
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {}, // run decides the exit code
		Commands: []*cli.Command{
			keygenCommand(e),
			keyCommand(e),
			generateCommand(e),
			withEvidence(detectCommand(e)),
			withEvidence(scanCommand(e)),
			withEvidence(probeCommand(e)),
			mergeCommand(e),
			benchCommand(e),
			perplexityCommand(e),
			tokenizeCommand(e),
			demoCommand(e),
			serveCommand(e),
			ngramCommand(e),
			versionCommand(e),
			evidenceCommand(e),
			calibrateCommand(e),
		},
	}
	shortUsageErrors("", app.Commands)
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return fmt.Errorf("%v; see 'tracemark --help'", err)
	}
	app.Action = func(c *cli.Context) error {
		if c.Args().Present() {
			return usageError("unknown command", c.Args().First(), commandNames(app.Commands), "tracemark --help")
		}
		return cli.ShowAppHelp(c)
	}
	err := app.RunContext(ctx, reorderArgs(app.Commands, args))
	var code exitCode
	switch {
	case err == nil:
		return exitFound
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintf(stderr, "tracemark: %v\n", err)
		return exitError
	}
}

// version returns the module version, or the VCS revision of a development
// build.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return "devel-" + rev
}
