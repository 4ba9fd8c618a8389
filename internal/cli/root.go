// Package cli is the vigil command line (cobra). Commands stay thin: they
// parse flags, load config and hand over to the packages that do the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes (SPEC): 0 success, 1 the command ran and found a problem,
// 2 usage error.
const (
	ExitOK      = 0
	ExitProblem = 1
	ExitUsage   = 2
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func problem(err error) error { return &exitError{code: ExitProblem, err: err} }

// env is what commands share: streams and logging.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
}

func (e *env) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(e.logLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if e.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "vigil:", ee.err)
		}
		return ee.code
	}
	// Anything cobra reports itself (unknown flag, bad args) is usage.
	fmt.Fprintln(stderr, "vigil:", err)
	fmt.Fprintln(stderr, "Run 'vigil --help' for usage.")
	return ExitUsage
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "vigil",
		Short: "Vigil: API discovery, protection, identity, mTLS and audit in one binary",
		Long: `Vigil sits in front of your APIs (gateway), beside each workload (sidecar)
and once per cluster (control plane). It discovers every endpoint that really
receives traffic, protects it in layers, and records every transaction.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&e.logFormat, "log-format", "text", "log format: text or json")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\n%s", err, c.UsageString())
	})
	root.AddCommand(versionCmd(e), validateCmd(e), gatewayCmd(e, "gateway"), gatewayCmd(e, "sidecar"), demoCmd(e), policyCmd(e), caCmd(e), auditCmd(e))
	for _, extra := range extraCommands {
		root.AddCommand(extra(e))
	}
	return root
}

// extraCommands are added by other files of this package (discover, up...).
var extraCommands []func(*env) *cobra.Command

// Version information, set with -ldflags at release time.
var (
	version = "dev"
	commit  = ""
)

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c := commit
			if c == "" {
				if bi, ok := debug.ReadBuildInfo(); ok {
					for _, s := range bi.Settings {
						if s.Key == "vcs.revision" {
							c = s.Value
						}
					}
				}
			}
			if c == "" {
				c = "unknown"
			}
			fmt.Fprintf(e.stdout, "vigil %s\ncommit %s\n%s %s/%s\n", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func requireConfig(cmd *cobra.Command) error {
	if f, _ := cmd.Flags().GetString("config"); strings.TrimSpace(f) == "" {
		return fmt.Errorf("--config FILE is required")
	}
	return nil
}
