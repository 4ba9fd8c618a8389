package server

import (
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-sec/vigil/internal/bearer"
	"github.com/vigil-sec/vigil/internal/metrics"
)

// AdminMux serves /healthz (the process is up), /readyz (serving; 503 while
// starting or draining) and /metrics, plus what extra adds (the control
// plane's API). Every placement's admin listener uses it.
func AdminMux(m *metrics.Metrics, ready func() bool, extra func(*http.ServeMux)) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	if extra != nil {
		extra(mux)
	}
	return mux
}

func (g *Gateway) adminMux() *http.ServeMux {
	mux := AdminMux(g.Metrics, g.ready.Load, g.opts.Admin)
	cfg := g.cfg.Load()
	if cfg.Admin.Pprof {
		// The profiler shows memory and can stall the process: behind the
		// admin token when one is configured (admin.token or
		// VIGIL_ADMIN_TOKEN), with a warning when none is.
		guard := func(h http.HandlerFunc) http.Handler { return h }
		token := os.Getenv("VIGIL_ADMIN_TOKEN")
		if token == "" {
			token = cfg.Admin.Token
		}
		if token != "" {
			tok := bearer.New(token)
			guard = func(h http.HandlerFunc) http.Handler { return tok.Require(h) }
		} else {
			g.log.Warn("admin.pprof is on without an admin token: the profiler is open to anyone who reaches the admin address")
		}
		mux.Handle("/debug/pprof/", guard(pprof.Index))
		mux.Handle("/debug/pprof/profile", guard(pprof.Profile))
		mux.Handle("/debug/pprof/symbol", guard(pprof.Symbol))
		mux.Handle("/debug/pprof/trace", guard(pprof.Trace))
	}
	return mux
}
