package egress

import (
	"net"
	"sync"
	"time"
)

// connQueue is the net.Listener the http.Server of intercepted
// connections accepts from: the egress server pushes connections whose
// TLS it terminated.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server; false once the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return egressAddr{} }

type egressAddr struct{}

func (egressAddr) Network() string { return "egress" }
func (egressAddr) String() string  { return "egress" }

// pins are hosts whose client refused the minted certificate, tunneled
// until a deadline (rules with fallback tunnel). Bounded: when full,
// expired pins go first, then the one closest to expiry.
type pins struct {
	mu  sync.Mutex
	max int
	m   map[string]time.Time
}

func newPins(max int) *pins { return &pins{max: max, m: map[string]time.Time{}} }

func (p *pins) add(host string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[host]; !ok && len(p.m) >= p.max {
		now := time.Now()
		var oldest string
		var at time.Time
		for h, u := range p.m {
			if u.Before(now) {
				delete(p.m, h)
				continue
			}
			if oldest == "" || u.Before(at) {
				oldest, at = h, u
			}
		}
		if len(p.m) >= p.max {
			delete(p.m, oldest)
		}
	}
	p.m[host] = until
}

func (p *pins) has(host string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.m[host]
	if ok && !now.Before(u) {
		delete(p.m, host)
		return false
	}
	return ok
}
