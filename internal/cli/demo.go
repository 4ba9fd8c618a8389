package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/demo"
)

func demoCmd(e *env) *cobra.Command {
	var o demo.Options
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the demo shop behind Vigil, with shoppers and attacks",
		Long: `Starts the demo shop (front-end, catalog, cart, users, order and an external
payment provider, each on its own loopback port), puts a Vigil gateway in front
of it, and plays realistic shoppers plus a few obvious attacks through it. It
prints a live summary and, at the end, what discovery found. Stops on Ctrl-C
or after --duration; everything it writes lives in a temporary directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = e.stdout
			if e.logLevel == "debug" {
				o.Logger = e.logger()
			}
			_, err := demo.Run(cmd.Context(), o)
			if err != nil {
				return problem(err)
			}
			return nil
		},
	}
	f := c.Flags()
	f.DurationVarP(&o.Duration, "duration", "d", 0, "stop after this long (default: until Ctrl-C)")
	f.IntVar(&o.Shoppers, "shoppers", 8, "concurrent virtual shoppers")
	f.Float64Var(&o.AttackRate, "attack-rate", 0.5, "attack scenarios per second (negative: none)")
	f.Int64Var(&o.Seed, "seed", 1, "random seed for shoppers and attacks")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "gateway address")
	f.StringVar(&o.Admin, "admin", "127.0.0.1:9901", "admin address")
	f.DurationVar(&o.Every, "every", 2*time.Second, "summary interval")
	return c
}
