package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigil-sec/vigil/internal/server"
)

// TestLargeBodyStreams proves request and response bodies stream through
// the gateway: the upstream sees the first megabyte of a 64 MiB upload
// while the client is still holding back the rest (a buffering proxy would
// deadlock), and the client sees the first chunk of the response before
// the upstream writes the second.
func TestLargeBodyStreams(t *testing.T) {
	const total = 64 << 20
	firstSeen := make(chan struct{})
	firstRead := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/download" {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(make([]byte, 1<<20))
			w.(http.Flusher).Flush()
			select {
			case <-firstRead:
			case <-time.After(5 * time.Second):
				return // the client never saw the first chunk: response was buffered
			}
			_, _ = w.Write(make([]byte, 1<<20))
			return
		}
		buf := make([]byte, 1<<20)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(firstSeen)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n+int64(len(buf)))
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, withListen(baseConfig(up.URL, ""), "limits: {max_body_bytes: 1GiB}"), server.Options{})

	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 1<<20)
		_, _ = rand.Read(chunk)
		_, _ = pw.Write(chunk)
		select {
		case <-firstSeen:
		case <-time.After(5 * time.Second):
			pw.CloseWithError(fmt.Errorf("upstream never saw the first MiB: the body was buffered"))
			return
		}
		for sent := 1 << 20; sent < total; sent += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", h.URL+"/upload", pr)
	req.ContentLength = total
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != fmt.Sprint(total) {
		t.Fatalf("upload: status %d body %q", resp.StatusCode, b)
	}

	resp, err = http.Get(h.URL + "/download")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	close(firstRead)
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 1<<20 {
		t.Fatalf("download: second chunk %d bytes", n)
	}
}

func TestServerSentEvents(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: tick %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})
	resp, err := http.Get(h.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("data: tick %d\n", i); line != want {
			t.Fatalf("got %q want %q", line, want)
		}
		_, _ = br.ReadString('\n')
		next <- struct{}{} // the upstream only continues once we saw this event
	}
}

func TestWebSocketPassThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	txn := resp.Header.Get("Vigil-Txn")
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo: "+msg {
			t.Fatalf("got %q", got)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	ev := h.eventFor(txn)
	if ev.Response.Status != 101 {
		t.Fatalf("event status %d, want 101", ev.Response.Status)
	}
}

// TestGRPCPassThrough runs a real gRPC server (the standard health
// service) behind the gateway over h2c: unary calls, server streaming, and
// error statuses carried in trailers all pass through.
func TestGRPCPassThrough(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("shop.Catalog", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)

	h := startGateway(t, baseConfig("h2c://"+l.Addr().String(), ""), server.Options{})
	conn, err := grpc.NewClient(strings.TrimPrefix(h.URL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	res, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "shop.Catalog"})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", res, err)
	}
	// A gRPC error travels in the trailers (grpc-status), not the HTTP status.
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v, want NotFound", err)
	}
	// Server streaming: updates arrive as they happen.
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "shop.Catalog"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch first: %v %v", first, err)
	}
	hs.SetServingStatus("shop.Catalog", healthpb.HealthCheckResponse_NOT_SERVING)
	second, err := stream.Recv()
	if err != nil || second.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch update: %v %v", second, err)
	}
	evs := h.readEvents(2)
	if evs[0].Request.Path != "/grpc.health.v1.Health/Check" || evs[0].Request.Method != "POST" {
		t.Fatalf("event request %+v", evs[0].Request)
	}
}

// TestH2C checks plain HTTP/2 with prior knowledge on the plaintext listener.
func TestH2C(t *testing.T) {
	a := echo(t, "a")
	h := startGateway(t, baseConfig(a.URL, ""), server.Options{})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: &p}}
	resp, err := c.Get(h.URL + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Vigil-Txn") == "" {
		t.Fatalf("proto %s status %d", resp.Proto, resp.StatusCode)
	}
}

// TestUpstreamAnswersBeforeBody covers an upstream that replies (here 401)
// without reading the upload. net/http's Transport may go on sending the
// request body after the round trip has returned and the gateway has
// recycled the transaction; the body reader must not share state with the
// recycled transaction. Under -race this test fails if it does, and every
// client must still get the upstream's answer.
func TestUpstreamAnswersBeforeBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d", n)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})

	body := make([]byte, 512<<10)
	const workers, each = 8, 25
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			var err error
			for i := 0; i < each && err == nil; i++ {
				path, want := "/reject", http.StatusUnauthorized
				if (w+i)%3 == 0 {
					path, want = "/read", http.StatusOK
				}
				var resp *http.Response
				resp, err = http.Post(h.URL+path, "application/octet-stream", strings.NewReader(string(body)))
				if err != nil {
					break
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want || (want == 200 && string(b) != fmt.Sprint(len(body))) {
					err = fmt.Errorf("%s: status %d body %.80q", path, resp.StatusCode, b)
				}
			}
			errs <- err
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
