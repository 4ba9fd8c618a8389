package egress

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
)

type events struct{ ch chan *event.Event }

func (e events) Enqueue(ev *event.Event) bool { e.ch <- ev; return true }

// TestBounds: max_connections closes extra connections at once; a client
// that never sends its CONNECT or ClientHello is closed after
// handshake_timeout.
func TestBounds(t *testing.T) {
	cfg := &config.Config{}
	cfg.Transport.Egress = config.Egress{Listen: "127.0.0.1:0", MaxConnections: 1, HandshakeTimeout: 300 * time.Millisecond}
	evs := events{make(chan *event.Event, 16)}
	var cur atomic.Pointer[config.Config]
	cur.Store(cfg)
	s, err := New(Options{Config: cur.Load, Handler: http.NotFoundHandler(), Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l, &http.Server{}) }()
	t.Cleanup(func() {
		s.Close()
		_ = l.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(50 * time.Millisecond)
	extra, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetDeadline(time.Now().Add(time.Second))
	start := time.Now()
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("the connection over max_connections: %v after %s", err, time.Since(start))
	}
	if s.Rejected() != 1 {
		t.Fatalf("rejected %d", s.Rejected())
	}
	_ = silent.SetDeadline(time.Now().Add(2 * time.Second))
	start = time.Now()
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent client: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > time.Second {
		t.Fatalf("silent client closed after %s, want the 300ms handshake timeout", d)
	}
	// The slot is free again once the server has finished with the
	// silent client (the close the client saw comes first): a blocked
	// CONNECT is answered.
	for deadline := time.Now().Add(2 * time.Second); len(s.sem) > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cfg2 := *cfg
	cfg2.Transport.Egress.Default = "block"
	cur.Store(&cfg2)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "CONNECT blocked.test:443 HTTP/1.1\r\n\r\n")
	b, _ := io.ReadAll(c)
	if len(b) < 12 || string(b[:12]) != "HTTP/1.1 403" {
		t.Fatalf("got %q", b)
	}
	ev := <-evs.ch
	if ev.Type != "egress" || ev.Decision != "block" || ev.Destination.Host != "blocked.test" || ev.Findings[0].RuleID != DefaultRuleID {
		t.Fatalf("event %+v", ev)
	}
}
