package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/allinone"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store"
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

// controlStack is the store and bus a control plane runs on.
type controlStack struct {
	store store.Store
	bus   *bus.Bus
}

func openControlStack(ctx context.Context, cfg *config.Config, busURL, busListen string, log *slog.Logger) (*controlStack, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b, err := bus.Open(ctx, busURL, cfg.DataDir, bus.Options{Listen: busListen, Logger: log, Name: "vigil-control"})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	return &controlStack{store: st, bus: b}, nil
}

func (c *controlStack) Close() {
	c.bus.Close()
	_ = c.store.Close()
}

func runUp(ctx context.Context, e *env, cfg *config.Config, busListen string) error {
	tok, generated := adminToken(cfg)
	stack, err := allinone.Start(ctx, cfg, allinone.Options{Token: tok, BusListen: busListen, Logger: e.logger()})
	if err != nil {
		return problem(err)
	}
	g := stack.DataPlane.G
	admin := "http://" + g.Addr("admin")
	fmt.Fprintf(e.stdout, "Vigil is up.\n  gateway:    http://%s\n  admin API:  %s/api/v1/endpoints\n  metrics:    %s/metrics\n", g.Addr("http"), admin, admin)
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

// controlEngine is a scale-out control plane's inventory: fed from events,
// with the config's discovery settings — specs (so rows get documented,
// shadow or zombie status), pins, splits, custom sensitive classes. Its
// alerts are only logged: the data planes' own engines already put alerts
// on the event stream and call the webhook, and every replica doing it
// again would repeat them.
func controlEngine(ctx context.Context, c config.Discovery, log *slog.Logger) (*discovery.Engine, error) {
	c.Webhook = ""
	svc, err := discovery.StartService(ctx, c, discovery.ServiceOptions{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	return svc.Engine, nil
}

func runControl(ctx context.Context, e *env, cfg *config.Config, busListen string) error {
	log := e.logger()
	if cfg.Bus == "none" {
		return problem(errors.New("bus: the control plane needs a bus (embedded or nats://...), not none"))
	}
	if cfg.Bus == bus.Embedded && busListen == "" {
		log.Warn("bus: embedded without --bus-listen: no data plane can reach this control plane")
	}
	stack, err := openControlStack(ctx, cfg, cfg.Bus, busListen, log)
	if err != nil {
		return problem(err)
	}
	defer stack.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	eng, err := controlEngine(ctx, cfg.Discovery, log)
	if err != nil {
		return problem(err)
	}
	plane, err := control.New(control.Options{Store: stack.store, Bus: stack.bus, Engine: eng, FeedEngine: true,
		Retention: cfg.Events.Retention, Logger: log})
	if err != nil {
		return problem(err)
	}
	tok, generated := adminToken(cfg)
	apiSrv := &api.Server{Store: stack.store, Discovery: eng, Config: plane, Token: tok, Log: log}
	m := metrics.New()
	ln, err := net.Listen("tcp", cfg.Admin.Addr)
	if err != nil {
		return problem(fmt.Errorf("admin: %w", err))
	}
	srv := &http.Server{Handler: server.AdminMux(m, func() bool { return stack.bus.Connected() }, apiSrv.Register),
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { _ = plane.Run(ctx) }()
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(e.stdout, "Vigil control plane\n  admin API:  http://%s/api/v1/endpoints\n  store:      %s\n  bus:        %s\n",
		ln.Addr(), redactDSN(cfg.Store), cfg.Bus)
	if generated {
		fmt.Fprintf(e.stdout, "  admin token (generated): %s\n", tok)
	}
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func redactDSN(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "@"); j >= 0 {
			return s[:i+3] + "***@" + s[i+3+j+1:]
		}
	}
	return s
}
