package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trust decides which peers' forwarding headers are believed.
type Trust struct {
	prefixes []netip.Prefix
}

// NewTrust builds a Trust from parsed prefixes.
func NewTrust(p []netip.Prefix) Trust { return Trust{prefixes: p} }

// Trusted reports whether addr is a trusted proxy.
func (t Trust) Trusted(a netip.Addr) bool {
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerHost is the host part of a RemoteAddr without parsing it ("" if it
// has no port).
func peerHost(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return remote
	}
	h := remote[:i]
	if len(h) > 1 && h[0] == '[' {
		h = h[1 : len(h)-1]
	}
	return h
}

// PeerAddr parses the host part of a RemoteAddr.
func PeerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ClientAddr returns the real client: the peer itself unless it is a
// trusted proxy, in which case X-Forwarded-For is walked right to left,
// skipping trusted hops; the first untrusted address is the client.
func (t Trust) ClientAddr(peer netip.Addr, h http.Header) netip.Addr {
	if len(t.prefixes) == 0 || !t.Trusted(peer) {
		return peer
	}
	xff := h.Values("X-Forwarded-For")
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client
			}
			a = a.Unmap()
			client = a
			if !t.Trusted(a) {
				return a
			}
		}
	}
	return client
}

// SetForwarded writes X-Forwarded-For/-Proto/-Host and Forwarded on the
// outgoing request. Headers from a trusted peer are extended; from anyone
// else they are replaced, so a client cannot forge its address upstream.
func (t Trust) SetForwarded(out, in *http.Request, tls bool) {
	trusted := false
	ip := peerHost(in.RemoteAddr)
	var peer netip.Addr
	if len(t.prefixes) > 0 {
		peer = PeerAddr(in.RemoteAddr)
		trusted = t.Trusted(peer)
		ip = peer.String()
	} else if strings.IndexByte(ip, ':') >= 0 {
		peer, _ = netip.ParseAddr(ip)
	}
	proto := "http"
	if tls {
		proto = "https"
	}
	// One backing array for the four header values: one allocation.
	vals := new([4]string)
	set := func(k string, i int, v string) { vals[i] = v; out.Header[k] = vals[i : i+1 : i+1] }
	prior := in.Header["X-Forwarded-For"]
	if trusted && len(prior) > 0 {
		set("X-Forwarded-For", 0, strings.Join(prior, ", ")+", "+ip)
	} else {
		set("X-Forwarded-For", 0, ip)
	}
	if p := in.Header.Get("X-Forwarded-Proto"); trusted && p != "" {
		set("X-Forwarded-Proto", 1, p)
	} else {
		set("X-Forwarded-Proto", 1, proto)
	}
	if h := in.Header.Get("X-Forwarded-Host"); trusted && h != "" {
		set("X-Forwarded-Host", 2, h)
	} else {
		set("X-Forwarded-Host", 2, in.Host)
	}
	var elem string
	switch {
	case peer.Is6():
		elem = `for="[` + ip + `]";proto=` + proto
	case tls:
		elem = "for=" + ip + ";proto=https"
	default:
		elem = "for=" + ip + ";proto=http"
	}
	if prev := in.Header.Values("Forwarded"); trusted && len(prev) > 0 {
		set("Forwarded", 3, strings.Join(prev, ", ")+", "+elem)
	} else {
		set("Forwarded", 3, elem)
	}
}
