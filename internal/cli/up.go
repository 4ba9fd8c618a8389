package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/allinone"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
)

func init() { extraCommands = append(extraCommands, upCmd, controlCmd) }

// adminToken is the API token: config, then VIGIL_ADMIN_TOKEN, else a
// generated one (reported as generated so the caller can print it once).
func adminToken(cfg *config.Config) (string, bool) {
	if t := os.Getenv("VIGIL_ADMIN_TOKEN"); t != "" {
		return t, false
	}
	if cfg.Admin.Token != "" {
		return cfg.Admin.Token, false
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "vgl_" + hex.EncodeToString(b), true
}

// readToken applies VIGIL_READ_TOKEN over admin.read_token: the
// dashboard's read-only token.
func readToken(cfg *config.Config) {
	if t := os.Getenv("VIGIL_READ_TOKEN"); t != "" {
		cfg.Admin.ReadToken = t
	}
}

func loadConfig(e *env, file string) (*config.Config, error) {
	cfg, err := config.Load(file)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, problem(fmt.Errorf("%s is not valid", file))
	}
	return cfg, nil
}

// configCmd is a command that runs from a config file: it owns the
// --config flag, reports a missing one as a usage error, and loads and
// validates the file before run.
func configCmd(e *env, use, short string, run func(ctx context.Context, cfg *config.Config) error) *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   use + " --config FILE",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireConfig(cmd); err != nil {
				return err
			}
			cfg, err := loadConfig(e, file)
			if err != nil {
				return err
			}
			return run(cmd.Context(), cfg)
		},
	}
	c.Flags().StringVarP(&file, "config", "c", "", "config file (YAML)")
	return c
}

func upCmd(e *env) *cobra.Command {
	var busListen string
	c := configCmd(e, "up", "All in one: gateway + control plane + API, embedded store and bus",
		func(ctx context.Context, cfg *config.Config) error {
			if err := cfg.RequireListener(); err != nil {
				fmt.Fprintln(e.stderr, err)
				return problem(errors.New("vigil up needs a data-plane listener"))
			}
			if cfg.Admin.Addr == "" {
				cfg.Admin.Addr = "127.0.0.1:9901"
			}
			return runUp(ctx, e, cfg, busListen)
		})
	c.Flags().StringVar(&busListen, "bus-listen", "", "also let other processes reach the embedded bus at this address (e.g. 127.0.0.1:4222)")
	return c
}

func runUp(ctx context.Context, e *env, cfg *config.Config, busListen string) error {
	tok, generated := adminToken(cfg)
	readToken(cfg)
	stack, err := allinone.Start(ctx, cfg, allinone.Options{Token: tok, BusListen: busListen, Logger: e.logger()})
	if err != nil {
		return problem(err)
	}
	g := stack.DataPlane.G
	admin := "http://" + g.Addr("admin")
	fmt.Fprintf(e.stdout, "Vigil is up.\n  gateway:    http://%s\n  admin API:  %s/api/v1/endpoints\n  dashboard:  %s/ui/\n  metrics:    %s/metrics\n",
		g.Addr("http"), admin, admin, admin)
	if generated {
		fmt.Fprintf(e.stdout, "  admin token (generated; set VIGIL_ADMIN_TOKEN or admin.token to choose one):\n    %s\n", tok)
	}
	return stack.Serve(ctx)
}

func controlCmd(e *env) *cobra.Command {
	var busListen string
	c := configCmd(e, "control", "Run the control plane only (inventory, events, API)",
		func(ctx context.Context, cfg *config.Config) error {
			if cfg.Admin.Addr == "" {
				return problem(errors.New("the control plane needs admin.addr for its API"))
			}
			return runControl(ctx, e, cfg, busListen)
		})
	c.Flags().StringVar(&busListen, "bus-listen", "", "with bus: embedded, let data planes reach the bus at this address")
	return c
}

func runControl(ctx context.Context, e *env, cfg *config.Config, busListen string) error {
	log := e.logger()
	if cfg.Bus == bus.Embedded && busListen == "" {
		log.Warn("bus: embedded without --bus-listen: no data plane can reach this control plane")
	}
	tok, generated := adminToken(cfg)
	readToken(cfg)
	stack, err := allinone.StartControl(ctx, cfg, allinone.Options{Token: tok, BusListen: busListen, Logger: log})
	if err != nil {
		return problem(err)
	}
	fmt.Fprintf(e.stdout, "Vigil control plane\n  admin API:  http://%s/api/v1/endpoints\n  dashboard:  http://%s/ui/\n  store:      %s\n  bus:        %s\n",
		stack.AdminAddr(), stack.AdminAddr(), redactDSN(cfg.Store), cfg.Bus)
	if generated {
		fmt.Fprintf(e.stdout, "  admin token (generated): %s\n", tok)
	}
	return stack.Serve(ctx)
}

func redactDSN(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "@"); j >= 0 {
			return s[:i+3] + "***@" + s[i+3+j+1:]
		}
	}
	return s
}
