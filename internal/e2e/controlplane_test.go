package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

// startNATS runs a NATS server with JetStream and its own listener (port
// 0 picks one; a fixed port restarts it where it was).
func startNATS(t *testing.T, port int, dir string) *natsserver.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	return ns
}

// replica is one control-plane replica.
type replica struct {
	plane  *control.Plane
	bus    *bus.Bus
	store  store.Store
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, natsURL, dsn string) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.Open(ctx, natsURL, t.TempDir(), bus.Options{AckWait: 2 * time.Second, Name: "control-test"})
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := discovery.New(discovery.Options{})
	p, err := control.New(control.Options{Store: st, Bus: b, Engine: eng, FeedEngine: true, FlushEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{plane: p, bus: b, store: st, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); _ = p.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	<-r.done
	r.bus.Close()
	_ = r.store.Close()
}

// startReportingGateway runs a data plane that reports to natsURL, with
// discovery off; startProfilingGateway with discovery on.
func startReportingGateway(t *testing.T, upstream, natsURL string) *server.DataPlane {
	return startDataPlane(t, upstream, natsURL, "discovery: {enabled: false}")
}

func startProfilingGateway(t *testing.T, upstream, natsURL string) *server.DataPlane {
	return startDataPlane(t, upstream, natsURL, "discovery: {sample_rate: 1}")
}

func startDataPlane(t *testing.T, upstream, natsURL, discoveryYAML string) *server.DataPlane {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "gw.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
data_dir: %s
bus: %s
routes: [{name: main, upstream: %q}]
%s
`, dir, natsURL, upstream, discoveryYAML)), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dp, err := server.StartDataPlane(ctx, cfg, server.Options{Placement: "gateway", Logger: quietLog()}, quietLog(),
		server.DataPlaneOptions{ProfileEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = dp.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return dp
}

func fastUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	return up
}

// load sends n requests spread over the gateways with some concurrency and
// calls mid once, after half of them.
func load(t *testing.T, urls []string, n int, mid func()) {
	t.Helper()
	var sent atomic.Int64
	var failed atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := sent.Add(1)
				if i > int64(n) {
					return
				}
				if i == int64(n/2) && mid != nil {
					once.Do(mid)
				}
				resp, err := client.Get(fmt.Sprintf("%s/items/%d", urls[(int(i)+w)%len(urls)], i))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed", f, n)
	}
}

func waitCount(t *testing.T, st store.Store, want int64, within time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(within)
	var got int64
	for time.Now().Before(deadline) {
		got, _ = st.CountEvents(context.Background())
		if got >= want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // redeliveries would show up now
	got, _ = st.CountEvents(context.Background())
	return got
}

// TestScaleOut: two gateways, two control-plane replicas over PostgreSQL
// and an external NATS server. 20,000 requests land as exactly 20,000 event
// rows although one replica is killed mid-stream, and a config change made
// on the control plane reaches both gateways within a second.
func TestScaleOut(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 4000
	}
	dsn, _ := storetest.Postgres(t)
	ns := startNATS(t, 0, t.TempDir())
	defer ns.Shutdown()
	url := ns.ClientURL()
	up := fastUpstream(t)
	r1 := startReplica(t, url, dsn)
	r2 := startReplica(t, url, dsn)
	g1 := startReportingGateway(t, up.URL, url)
	g2 := startReportingGateway(t, up.URL, url)

	load(t, []string{"http://" + g1.G.Addr("http"), "http://" + g2.G.Addr("http")}, n, func() {
		r1.stop() // kill one replica mid-stream
	})
	got := waitCount(t, r2.store, int64(n), 90*time.Second)
	if got != int64(n) {
		t.Fatalf("%d event rows for %d requests (publisher drops: %d + %d)", got, n, g1.Publisher.Dropped(), g2.Publisher.Dropped())
	}

	// Config change: the control plane distributes, both gateways apply.
	start := time.Now()
	if _, err := r2.plane.PublishConfig(context.Background(), []byte("mode: monitor\n")); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*server.DataPlane{g1, g2} {
		for g.G.Config().Mode != "monitor" {
			if time.Since(start) > time.Second {
				t.Fatalf("config change did not reach a gateway within 1s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("config change reached both gateways in %v", time.Since(start))

	// The inventory is in the store too.
	waitFor(t, 5*time.Second, func() bool {
		page, err := r2.store.ListEndpoints(context.Background(), store.EndpointFilter{})
		return err == nil && len(page.Items) == 1 && page.Items[0].Path == "/items/{parameter}"
	}, "inventory row /items/{parameter} not in the store")
}

// TestBusOutage: with the bus down the gateway keeps answering; when it
// returns every buffered event arrives.
func TestBusOutage(t *testing.T) {
	natsDir := t.TempDir()
	ns := startNATS(t, 0, natsDir)
	url := ns.ClientURL()
	addr := ns.Addr().String()
	up := fastUpstream(t)
	st, err := store.Open(context.Background(), "sqlite", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := startReportingGateway(t, up.URL, url)
	gw := []string{"http://" + g.G.Addr("http")}

	load(t, gw, 200, nil)
	ns.Shutdown()
	ns.WaitForShutdown()
	load(t, gw, 1000, nil) // the gateway answers while the bus is down
	if g.Publisher.Buffered() == 0 {
		t.Fatal("nothing buffered while the bus was down")
	}
	var portNum int
	fmt.Sscanf(addr[len("127.0.0.1:"):], "%d", &portNum)
	ns2 := startNATS(t, portNum, natsDir)
	defer ns2.Shutdown()

	eng, _ := discovery.New(discovery.Options{})
	b, err := bus.Open(context.Background(), url, t.TempDir(), bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, _ := control.New(control.Options{Store: st, Bus: b, Engine: eng, FeedEngine: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	got := waitCount(t, st, 1200, 30*time.Second)
	if dropped := int64(g.Publisher.Dropped()); got+dropped != 1200 || got != 1200 {
		t.Fatalf("stored %d, dropped %d, sent 1200", got, dropped)
	}
}

// TestScaleOutProfiles: in a scale-out deployment the control plane builds
// its inventory from events, which carry no bodies. The gateways publish
// their discovery profiles (body schemas, sensitive fields) on the bus, and
// every control replica merges them: the stored endpoint shows the request
// and response schemas and the sensitive classes found in bodies, with the
// fields each gateway saw, however the traffic was spread.
func TestScaleOutProfiles(t *testing.T) {
	dsn, _ := storetest.Postgres(t)
	ns := startNATS(t, 0, t.TempDir())
	defer ns.Shutdown()
	url := ns.ClientURL()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"order_id":17,"card":"4111 1111 1111 1111"}`)
	}))
	t.Cleanup(up.Close)
	r1 := startReplica(t, url, dsn)
	r2 := startReplica(t, url, dsn)
	g1 := startProfilingGateway(t, up.URL, url)
	g2 := startProfilingGateway(t, up.URL, url)

	for i := range 40 {
		g, body := g1, fmt.Sprintf(`{"email":"u%d@example.com","qty":%d}`, i, i+1)
		if i%2 == 1 {
			g, body = g2, fmt.Sprintf(`{"email":"u%d@example.com","qty":%d,"coupon":"SPRING"}`, i, i+1)
		}
		resp, err := http.Post(fmt.Sprintf("http://%s/orders/%d", g.G.Addr("http"), 1000+i), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	id := store.EndpointID("127.0.0.1", "POST", "/orders/{parameter}")
	var last store.Endpoint
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ep, err := r1.store.GetEndpoint(context.Background(), id)
		if err == nil {
			last = ep
			var d discovery.Endpoint
			if json.Unmarshal(ep.Detail, &d) == nil && ep.Hits == 40 && profiled(d) {
				if !slices.Contains(ep.Sensitive, "email") || !slices.Contains(ep.Sensitive, "card_number") {
					t.Fatalf("sensitive classes %v, want email and card_number from the bodies", ep.Sensitive)
				}
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = r2
	t.Fatalf("the stored endpoint never showed both gateways' body profiles: %+v detail %s", last, last.Detail)
}

// profiled reports whether d has the request schema with the fields of
// both gateways (coupon only came through the second) and the response
// schema.
func profiled(d discovery.Endpoint) bool {
	props, _ := d.RequestSchema["properties"].(map[string]any)
	_, email := props["email"]
	_, qty := props["qty"]
	_, coupon := props["coupon"]
	resp, _ := d.ResponseSchemas["201"].(map[string]any)
	return email && qty && coupon && resp != nil
}
