package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/server"
)

func validateCmd(e *env) *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a config file; print every error with its field path and line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireConfig(cmd); err != nil {
				return err
			}
			cfg, err := config.Load(file)
			if err == nil {
				err = checkBuild(cfg)
			}
			if err != nil {
				fmt.Fprintln(e.stdout, err)
				return &exitError{code: ExitProblem, err: fmt.Errorf("%s is not valid", file)}
			}
			fmt.Fprintf(e.stdout, "%s: ok (%d routes, mode %s)\n", file, len(cfg.Routes), cfg.Mode)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "config", "c", "", "config file (YAML)")
	return c
}

// checkBuild builds the stages and runtime the way a start would, so that
// errors only found while building (a bad CA file, an unknown stage name)
// are reported by validate too.
func checkBuild(cfg *config.Config) error {
	return server.Check(cfg)
}

func gatewayCmd(e *env, placement string) *cobra.Command {
	short := "Run the data plane at the edge (reverse proxy)"
	if placement == "sidecar" {
		short = "Run the data plane beside one workload"
	}
	return configCmd(e, placement, short, func(ctx context.Context, cfg *config.Config) error {
		if err := cfg.RequireListener(); err != nil {
			fmt.Fprintln(e.stderr, err)
			return problem(fmt.Errorf("%s is not valid", cfg.File))
		}
		return runDataPlane(ctx, e, cfg, placement)
	})
}

// runDataPlane runs a gateway or sidecar (reporting to a control plane
// when bus is a nats:// URL).
func runDataPlane(ctx context.Context, e *env, cfg *config.Config, placement string) error {
	dp, err := server.StartDataPlane(ctx, cfg, server.Options{Placement: placement}, e.logger(), server.DataPlaneOptions{})
	if err != nil {
		return problem(err)
	}
	return dp.Serve(ctx)
}
