// Package allinone assembles the all-in-one placement (`vigil up`, and the
// demo): a gateway, the control plane and its REST API in one process, on
// the embedded store and bus — the same components a scale-out deployment
// runs in separate processes.
package allinone

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store"
)

// Options configure the stack beyond its config.
type Options struct {
	// Token is the admin API token.
	Token string
	// BusListen also exposes the embedded bus to other processes.
	BusListen string
	Logger    *slog.Logger
	Discovery discovery.ServiceOptions
}

// Stack is a running all-in-one Vigil.
type Stack struct {
	DataPlane *server.DataPlane
	Plane     *control.Plane
	Store     store.Store
	Bus       *bus.Bus
	API       *api.Server
}

// Start opens the store and the embedded bus and assembles the gateway,
// the control plane and the API. Serve runs them.
func Start(ctx context.Context, cfg *config.Config, o Options) (*Stack, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b, err := bus.Open(ctx, bus.Embedded, cfg.DataDir, bus.Options{Listen: o.BusListen, Logger: o.Logger, Name: "vigil-up"})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	s := &Stack{Store: st, Bus: b, API: &api.Server{Store: st, Token: o.Token, Log: o.Logger}}
	dp, err := server.StartDataPlane(ctx, cfg, server.Options{Placement: "gateway", Admin: s.API.Register}, o.Logger,
		server.DataPlaneOptions{Bus: b, Discovery: o.Discovery})
	if err != nil {
		s.close()
		return nil, err
	}
	s.DataPlane = dp
	var eng *discovery.Engine
	if dp.Discovery != nil {
		eng = dp.Discovery.Engine
	}
	s.API.Discovery = eng
	s.Plane, err = control.New(control.Options{Store: st, Bus: b, Engine: eng, Retention: cfg.Events.Retention, Logger: o.Logger})
	if err != nil {
		s.close()
		return nil, err
	}
	s.API.Config = s.Plane
	return s, nil
}

// Serve runs the gateway and the control plane until ctx ends, then stops
// both and closes the store and bus.
func (s *Stack) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	planeDone := make(chan struct{})
	go func() { defer close(planeDone); _ = s.Plane.Run(ctx) }()
	err := s.DataPlane.Serve(ctx)
	cancel()
	<-planeDone
	s.close()
	return err
}

func (s *Stack) close() {
	s.Bus.Close()
	_ = s.Store.Close()
}
