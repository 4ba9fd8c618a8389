package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/discovery/logs"
	"github.com/vigil-sec/vigil/internal/discovery/openapi"
)

func init() { extraCommands = append(extraCommands, discoverCmd) }

type discoverOpts struct {
	format     string
	specs      []string
	failOn     []string
	pin        []string
	split      []string
	host       string
	quiet      bool
	cpuProfile string
}

func discoverCmd(e *env) *cobra.Command {
	var o discoverOpts
	c := &cobra.Command{
		Use:   "discover [--format table|json|openapi] [--spec FILE] FILE...",
		Short: "Build an API inventory offline from traffic logs",
		Long: `Reads nginx/Apache combined and common logs, Envoy/Istio JSON access logs,
other JSON access logs (nginx escape=json, Caddy, Traefik, Kong, Google Cloud,
ECS field names), HAR 1.2 and Vigil event lines (detected per file; .gz read transparently; - is
standard input) and prints the endpoints found. With --spec, every endpoint is
compared with the OpenAPI specs: documented, shadow (not in any spec) or
zombie (deprecated, or only in an older API version); --fail-on makes the
command exit 1 when such endpoints are found, for CI pipelines.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return runDiscover(cmd.Context(), e, o, files)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.format, "format", "f", "table", "output: table, json or openapi")
	f.StringSliceVar(&o.specs, "spec", nil, "OpenAPI spec file or URL to compare with (repeatable)")
	f.StringSliceVar(&o.failOn, "fail-on", nil, "exit 1 when endpoints with these statuses are found: shadow, zombie")
	f.StringSliceVar(&o.pin, "pin", nil, "template to pin, e.g. /repos/{owner}/{repo} (repeatable)")
	f.StringSliceVar(&o.split, "split", nil, "path that stays a constant, e.g. /users/me (repeatable)")
	f.StringVar(&o.host, "host", "", "with --format openapi: only this host")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress or summary on stderr")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	_ = f.MarkHidden("cpuprofile")
	return c
}

func runDiscover(ctx context.Context, e *env, o discoverOpts, files []string) error {
	switch o.format {
	case "table", "json", "openapi":
	default:
		return fmt.Errorf("--format %q: use table, json or openapi", o.format)
	}
	for _, s := range o.failOn {
		if s != "shadow" && s != "zombie" {
			return fmt.Errorf("--fail-on %q: use shadow and/or zombie", s)
		}
	}
	if len(o.failOn) > 0 && len(o.specs) == 0 {
		return fmt.Errorf("--fail-on needs at least one --spec")
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return problem(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	eng, err := discovery.New(discovery.Options{SampleRate: 1, MaxEndpoints: 200000, Pin: o.pin, Split: o.split})
	if err != nil {
		return problem(err)
	}
	var specs []*openapi.Spec
	for _, s := range o.specs {
		sp, err := openapi.Load(ctx, s)
		if err != nil {
			return problem(fmt.Errorf("spec %s: %w", s, err))
		}
		specs = append(specs, sp)
	}
	if len(specs) > 0 {
		eng.SetSpecs(specs)
	}
	showProgress := !o.quiet && isTerminal(e.stderr)
	var total, broken int64
	for _, name := range files {
		n, b, err := ingest(ctx, e, eng, name, showProgress, o.quiet)
		if err != nil {
			return problem(fmt.Errorf("%s: %w", name, err))
		}
		total += n
		broken += b
	}
	if len(specs) > 0 {
		eng.SetSpecs(specs) // re-classify now that every endpoint is known
	}
	if !o.quiet && len(files) > 1 {
		fmt.Fprintf(e.stderr, "total: %d lines, %d broken, %d endpoints\n", total, broken, eng.Len())
	}
	eps := eng.Endpoints()
	var cmp openapi.Comparison
	if len(specs) > 0 {
		cmp = eng.Comparison()
	}
	switch o.format {
	case "json":
		err = writeJSON(e.stdout, eps, cmp, len(specs) > 0, eng.Preflights())
	case "openapi":
		var doc []byte
		doc, err = eng.OpenAPI(o.host)
		if err == nil {
			_, err = e.stdout.Write(append(doc, '\n'))
		}
	default:
		writeTable(e.stdout, eps, cmp, len(specs) > 0, eng.Preflights())
	}
	if err != nil {
		return problem(err)
	}
	if len(o.failOn) > 0 {
		var bad []string
		for _, ep := range eps {
			if slices.Contains(o.failOn, ep.Status) {
				bad = append(bad, fmt.Sprintf("%s %s %s%s", ep.Status, ep.Method, ep.Host, ep.Path))
			}
		}
		if len(bad) > 0 {
			return problem(fmt.Errorf("%d endpoint(s) are %s:\n  %s", len(bad), strings.Join(o.failOn, " or "), strings.Join(bad, "\n  ")))
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ingest reads one file into the engine.
func ingest(ctx context.Context, e *env, eng *discovery.Engine, name string, progress, quiet bool) (lines, broken int64, err error) {
	r, err := logs.Open(name, e.stdin)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	var size int64
	if name != "-" {
		if st, err := os.Stat(name); err == nil {
			size = st.Size()
		}
	}
	start := time.Now()
	lastDraw := start
	// Parsing and inventory run on two goroutines (a pipeline of batches),
	// so a two-core machine ingests at the speed of the slower half.
	type batch struct {
		obs         []discovery.Observation
		err         error
		read, lines int64 // progress, read on the parsing goroutine
	}
	batches := make(chan batch, 4)
	free := make(chan []discovery.Observation, 6)
	for range 6 {
		free <- make([]discovery.Observation, 0, 1024)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(batches)
		var rec logs.Record
		buf := <-free
		for {
			err := r.Next(&rec)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					batches <- batch{obs: buf, err: err}
					return
				}
				batches <- batch{obs: buf}
				return
			}
			buf = append(buf, discovery.Observation{Time: rec.Time, Host: rec.Host, Method: rec.Method, Path: rec.Path, Query: rec.Query,
				Status: rec.Status, Latency: rec.Latency, ReqType: rec.ReqContentType, RespType: rec.RespContentType,
				ReqBody: rec.ReqBody, RespBody: rec.RespBody, Endpoint: rec.Endpoint, Auth: authOf(rec.Authorization)})
			if len(buf) == cap(buf) {
				select {
				case batches <- batch{obs: buf, read: r.BytesRead(), lines: r.Lines()}:
				case <-stop:
					return
				}
				select {
				case buf = <-free:
				case <-stop:
					return
				}
			}
		}
	}()
	var readErr error
	for b := range batches {
		for i := range b.obs {
			eng.Observe(&b.obs[i])
		}
		if b.err != nil {
			readErr = b.err
		}
		clear(b.obs)
		free <- b.obs[:0]
		if progress {
			if now := time.Now(); now.Sub(lastDraw) > 200*time.Millisecond {
				lastDraw = now
				drawProgress(e.stderr, name, b.read, size, b.lines, now.Sub(start))
			}
		}
		if ctx.Err() != nil {
			return b.lines, 0, ctx.Err()
		}
	}
	if readErr != nil {
		return r.Lines(), r.Broken(), readErr
	}
	if progress {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	if !quiet {
		el := time.Since(start)
		fmt.Fprintf(e.stderr, "%s: %d lines (%s), %d broken, %.0f lines/s, %d endpoints\n",
			name, r.Lines(), r.Format(), r.Broken(), float64(r.Lines())/max(el.Seconds(), 1e-9), eng.Count())
	}
	return r.Lines(), r.Broken(), nil
}

func authOf(h string) string {
	switch {
	case h == "":
		return ""
	case strings.HasPrefix(strings.ToLower(h), "bearer "):
		if strings.Count(h, ".") == 2 && strings.HasPrefix(h[7:], "ey") {
			return "bearer_jwt"
		}
		return "bearer"
	case strings.HasPrefix(strings.ToLower(h), "basic "):
		return "basic"
	}
	return "other"
}

func drawProgress(w io.Writer, name string, read, size, lines int64, el time.Duration) {
	rate := float64(lines) / max(el.Seconds(), 1e-9)
	if size > 0 && read <= size {
		const width = 30
		filled := int(float64(width) * float64(read) / float64(size))
		fmt.Fprintf(w, "\r\033[K%s [%s%s] %3.0f%% %d lines %.0f/s", name, strings.Repeat("=", filled),
			strings.Repeat(" ", width-filled), 100*float64(read)/float64(size), lines, rate)
		return
	}
	fmt.Fprintf(w, "\r\033[K%s %d lines %.0f/s", name, lines, rate)
}

// jsonEndpoint is the SPEC's discover --format json row.
type jsonEndpoint struct {
	Host      string    `json:"host"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Hits      int64     `json:"hits"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Status    string    `json:"status"`
	Sensitive []string  `json:"sensitive"`
	// Kind: rest, graphql, grpc, websocket; static (files) and not_found
	// (only ever answered 404: probes, typos) are not API operations.
	Kind   string                `json:"kind"`
	Params []discovery.PathParam `json:"path_params,omitempty"`
}

func writeJSON(w io.Writer, eps []discovery.Endpoint, cmp openapi.Comparison, withSpecs bool, preflights uint64) error {
	out := struct {
		Endpoints  []jsonEndpoint      `json:"endpoints"`
		Preflights uint64              `json:"preflights"` // CORS pre-flights (OPTIONS), not endpoints
		Unused     []map[string]string `json:"unused,omitempty"`
		Diffs      []openapi.Diff      `json:"diffs,omitempty"`
	}{Endpoints: make([]jsonEndpoint, 0, len(eps)), Preflights: preflights}
	for _, ep := range eps {
		out.Endpoints = append(out.Endpoints, jsonEndpoint{Host: ep.Host, Method: ep.Method, Path: ep.Path, Hits: ep.Hits,
			FirstSeen: ep.FirstSeen, LastSeen: ep.LastSeen, Status: statusOrDefault(ep.Status), Sensitive: ep.Sensitive,
			Kind: ep.Kind, Params: ep.PathParams})
	}
	if withSpecs {
		for _, op := range cmp.Unused {
			out.Unused = append(out.Unused, map[string]string{"method": op.Method, "path": op.Path, "operation_id": op.OperationID})
		}
		out.Diffs = cmp.Diffs
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// paramSummary renders a template's parameters for the table:
// "{parameter}: username (jane.doe, dev_ops42, …)".
func paramSummary(ps []discovery.PathParam) string {
	if len(ps) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		ex := p.Examples
		more := ""
		if len(ex) > 3 {
			ex, more = ex[:3], ", …"
		}
		parts = append(parts, fmt.Sprintf("%s: %s (%s%s)", p.Name, p.Kind, strings.Join(ex, ", "), more))
	}
	return strings.Join(parts, "; ")
}

// statusOrDefault: without specs every endpoint is simply "observed".
func statusOrDefault(s string) string {
	if s == "" {
		return "observed"
	}
	return s
}

func writeTable(w io.Writer, eps []discovery.Endpoint, cmp openapi.Comparison, withSpecs bool, preflights uint64) {
	type row struct {
		host, path string
		methods    []string
		hits       int64
		last       time.Time
		status     []string
		sensitive  []string
		params     []discovery.PathParam
	}
	var rows []*row
	idx := map[string]*row{}
	var notFound, notFoundHits int64
	for _, ep := range eps {
		if ep.Kind == "not_found" {
			notFound++
			notFoundHits += ep.Hits
			continue
		}
		k := ep.Host + " " + ep.Path
		r := idx[k]
		if r == nil {
			r = &row{host: ep.Host, path: ep.Path, params: ep.PathParams}
			idx[k] = r
			rows = append(rows, r)
		}
		r.methods = append(r.methods, ep.Method)
		r.hits += ep.Hits
		if ep.LastSeen.After(r.last) {
			r.last = ep.LastSeen
		}
		if st := statusOrDefault(ep.Status); !slices.Contains(r.status, st) {
			r.status = append(r.status, st)
		}
		for _, s := range ep.Sensitive {
			if !slices.Contains(r.sensitive, s) {
				r.sensitive = append(r.sensitive, s)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tRESOURCE PATH\tMETHODS\tHITS\tLAST OBSERVED\tSTATUS\tSENSITIVE\tPARAMETERS")
	for _, r := range rows {
		host := r.host
		if host == "" {
			host = "-"
		}
		sens := strings.Join(r.sensitive, ",")
		if sens == "" {
			sens = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", host, r.path, strings.Join(r.methods, ", "), r.hits,
			r.last.UTC().Format("2006-01-02 15:04:05"), strings.Join(r.status, ","), sens, paramSummary(r.params))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d endpoints, %d resource paths\n", len(eps)-int(notFound), len(rows))
	if notFound > 0 || preflights > 0 {
		fmt.Fprintf(w, "not shown: %d paths that only answered 404 (%d requests: probes, typos), %d CORS pre-flights\n",
			notFound, notFoundHits, preflights)
	}
	if withSpecs && len(cmp.Unused) > 0 {
		fmt.Fprintf(w, "\nDocumented but never called (%d):\n", len(cmp.Unused))
		for _, op := range cmp.Unused {
			fmt.Fprintf(w, "  %s %s\n", op.Method, op.Path)
		}
	}
	if withSpecs && len(cmp.Diffs) > 0 {
		fmt.Fprintf(w, "\nDifferences from the specs (%d):\n", len(cmp.Diffs))
		for _, d := range cmp.Diffs {
			fmt.Fprintf(w, "  %s %s %s: %s %s %s\n", d.Method, d.Path, d.In, d.Kind, d.Name, d.Detail)
		}
	}
}
