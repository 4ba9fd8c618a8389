package egress

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ClientHello is what the egress listener reads from a TLS ClientHello
// before deciding a connection: nothing in it is trusted, it only names
// where the client wants to go.
type ClientHello struct {
	// ServerName is the SNI host name, lower-cased ("" when absent).
	ServerName string
	// Versions are the TLS versions offered (supported_versions, else the
	// legacy version field), GREASE values left out.
	Versions []uint16
	// ALPN are the application protocols offered.
	ALPN []string
}

// MaxVersion is the highest version offered (0 if none).
func (h *ClientHello) MaxVersion() uint16 {
	var v uint16
	for _, x := range h.Versions {
		v = max(v, x)
	}
	return v
}

// maxHelloBytes bounds a ClientHello (post-quantum key shares make them
// about 1.8 KB; 64 KB is the handshake message's practical ceiling).
const maxHelloBytes = 1 << 16

var errNotTLS = errors.New("not a TLS handshake record")

// readClientHello reads TLS records from r until a whole ClientHello
// handshake message has arrived. raw is every byte read, to be replayed
// to whoever handles the connection next.
func readClientHello(r io.Reader) (raw []byte, h *ClientHello, err error) {
	var msg []byte
	hdr := make([]byte, 5)
	for {
		if k, err := io.ReadFull(r, hdr); err != nil {
			return append(raw, hdr[:k]...), nil, err
		}
		raw = append(raw, hdr...)
		if hdr[0] != 0x16 || hdr[1] != 3 {
			return raw, nil, errNotTLS
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > 1<<14+256 {
			return raw, nil, fmt.Errorf("TLS record of %d bytes", n)
		}
		start := len(raw)
		raw = append(raw, make([]byte, n)...)
		if k, err := io.ReadFull(r, raw[start:]); err != nil {
			return raw[:start+k], nil, err
		}
		msg = append(msg, raw[start:]...)
		if len(msg) >= 4 {
			want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if want > maxHelloBytes {
				return raw, nil, fmt.Errorf("ClientHello of %d bytes", want)
			}
			if len(msg) >= want {
				h, err := ParseClientHello(msg[:want])
				return raw, h, err
			}
		}
		if len(raw) > maxHelloBytes+1024 {
			return raw, nil, errors.New("ClientHello too large")
		}
	}
}

// cursor reads big-endian fields of a TLS message; a short read sets
// bad and returns zeros, so parsing garbage never panics.
type cursor struct {
	b   []byte
	bad bool
}

func (c *cursor) take(n int) []byte {
	if c.bad || n < 0 || n > len(c.b) {
		c.bad = true
		return nil
	}
	out := c.b[:n]
	c.b = c.b[n:]
	return out
}

func (c *cursor) u8() int {
	b := c.take(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (c *cursor) u16() int {
	b := c.take(2)
	if b == nil {
		return 0
	}
	return int(b[0])<<8 | int(b[1])
}

func (c *cursor) vec8() *cursor  { return &cursor{b: c.take(c.u8()), bad: c.bad} }
func (c *cursor) vec16() *cursor { return &cursor{b: c.take(c.u16()), bad: c.bad} }

func grease(v int) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ParseClientHello parses a ClientHello handshake message (RFC 8446
// 4.1.2: the handshake header, then the body) for its SNI, versions and
// ALPN. A malformed message is an error, never a panic.
func ParseClientHello(msg []byte) (*ClientHello, error) {
	c := &cursor{b: msg}
	if c.u8() != 1 {
		return nil, errors.New("not a ClientHello")
	}
	n := c.u8()<<16 | c.u16()
	body := &cursor{b: c.take(n), bad: c.bad}
	h := &ClientHello{}
	legacy := body.u16()
	body.take(32) // random
	body.vec8()   // legacy_session_id
	suites := body.vec16()
	if len(suites.b)%2 != 0 || len(suites.b) == 0 {
		return nil, errors.New("malformed ClientHello: cipher suites")
	}
	body.vec8() // compression methods
	if body.bad {
		return nil, errors.New("malformed ClientHello")
	}
	var versions []uint16
	if len(body.b) > 0 {
		exts := body.vec16()
		seen := map[int]bool{}
		for len(exts.b) > 0 && !exts.bad {
			typ := exts.u16()
			data := exts.vec16()
			if exts.bad {
				break
			}
			if seen[typ] {
				return nil, fmt.Errorf("malformed ClientHello: extension %d twice", typ)
			}
			seen[typ] = true
			switch typ {
			case 0: // server_name
				list := data.vec16()
				for len(list.b) > 0 && !list.bad {
					kind := list.u8()
					name := list.vec16()
					if list.bad || name.bad {
						break
					}
					if kind == 0 && h.ServerName == "" {
						host, err := checkServerName(string(name.b))
						if err != nil {
							return nil, err
						}
						h.ServerName = host
					}
				}
				if list.bad {
					return nil, errors.New("malformed ClientHello: server_name")
				}
			case 16: // application_layer_protocol_negotiation
				list := data.vec16()
				for len(list.b) > 0 && !list.bad {
					p := list.vec8()
					if !list.bad && len(p.b) > 0 && len(h.ALPN) < 16 {
						h.ALPN = append(h.ALPN, string(p.b))
					}
				}
			case 43: // supported_versions
				list := data.vec8()
				for len(list.b) >= 2 && !list.bad {
					if v := list.u16(); !grease(v) && len(versions) < 16 {
						versions = append(versions, uint16(v))
					}
				}
			}
		}
		if exts.bad {
			return nil, errors.New("malformed ClientHello: extensions")
		}
	}
	if len(versions) == 0 {
		versions = []uint16{uint16(legacy)}
	}
	h.Versions = versions
	return h, nil
}

// checkServerName accepts a DNS host name (RFC 6066 3: no trailing dot,
// no IP literal); it returns it in lower case.
func checkServerName(s string) (string, error) {
	if s == "" || len(s) > 253 {
		return "", fmt.Errorf("SNI of %d bytes", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fmt.Errorf("SNI %q is not a host name", s)
		}
	}
	if strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return "", fmt.Errorf("SNI %q is not a host name", s)
	}
	return strings.ToLower(s), nil
}
