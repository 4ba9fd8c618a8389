// Package guard holds the request guards' domain logic, kept apart from the
// pipeline: classifying URLs, hosts and addresses that a request asks the
// upstream to reach (SSRF), walking query strings, forms and JSON bodies
// without allocating, and measuring GraphQL documents (depth, aliases,
// cost, introspection). The ssrf, graphql and limits stages are thin
// wrappers around it.
package guard

import "net/netip"

// Class is what an address or host is, as far as SSRF is concerned. None
// is an ordinary public destination.
type Class uint8

// Classes, from the most to the least specific match: a metadata address
// is reported as metadata even though it is also link-local.
const (
	None Class = iota
	// Loopback: 127.0.0.0/8, ::1, localhost and *.localhost.
	Loopback
	// Private: RFC 1918, unique local fc00::/7, deprecated site-local
	// fec0::/10, local-use NAT64 64:ff9b:1::/48.
	Private
	// LinkLocal: 169.254.0.0/16, fe80::/10.
	LinkLocal
	// Metadata: cloud instance metadata services (169.254.169.254,
	// 169.254.170.2, 169.254.170.23, fd00:ec2::254, 100.100.100.200,
	// metadata.google.internal...).
	Metadata
	// CGNAT: the shared address space 100.64.0.0/10.
	CGNAT
	// Unspecified: 0.0.0.0/8 ("this network", reaches the local host on
	// Linux) and ::.
	Unspecified
	// Reserved: multicast, 240.0.0.0/4, broadcast, 192.0.0.0/24,
	// benchmarking 198.18.0.0/15, discard-only 100::/64.
	Reserved
	// InternalName: names only an internal resolver answers (.internal,
	// .local, .localdomain, .home.arpa, .lan, .corp, .intranet, .svc,
	// single-label hosts in a URL).
	InternalName
	// Disguised: a DNS name that is an internal IP literal in disguise
	// (127.0.0.1.nip.io, 10-0-0-1.sslip.io, 7f000001.rbndr.us) or a public
	// name known to resolve to loopback (localtest.me, lvh.me).
	Disguised
	// Scheme: a URL scheme that reaches non-HTTP services or local files
	// (file, gopher, dict, ldap, tftp, jar, netdoc...).
	Scheme
	numClasses
)

var classNames = [numClasses]string{"", "loopback", "private", "link_local", "metadata", "cgnat",
	"unspecified", "reserved", "internal_name", "disguised", "scheme"}

// String is the class's name, used in rule ids (ssrf:metadata).
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "unknown"
}

// ClassNames lists every class name except None's.
func ClassNames() []string { return append([]string(nil), classNames[1:]...) }

// ParseClass maps a class name to its Class.
func ParseClass(s string) (Class, bool) {
	for i := Class(1); i < numClasses; i++ {
		if classNames[i] == s {
			return i, true
		}
	}
	return None, false
}

// ClassSet is a set of classes.
type ClassSet uint32

// Add puts c in the set.
func (s *ClassSet) Add(c Class) { *s |= 1 << c }

// Remove takes c out of the set.
func (s *ClassSet) Remove(c Class) { *s &^= 1 << c }

// Has reports whether c is in the set.
func (s ClassSet) Has(c Class) bool { return c != None && s&(1<<c) != 0 }

// AllClasses is the set of every class.
func AllClasses() ClassSet {
	var s ClassSet
	for c := Class(1); c < numClasses; c++ {
		s.Add(c)
	}
	return s
}

// ClassifyAddr says what an address is. IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses are judged by the IPv4 address they carry. The zone is ignored.
func ClassifyAddr(a netip.Addr) Class {
	if !a.IsValid() {
		return None
	}
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		return classify4(a.As4())
	}
	b := a.As16()
	switch {
	case b == [16]byte{0xfd, 0x00, 0x0e, 0xc2, 14: 0x02, 15: 0x54}: // fd00:ec2::254 (AWS IMDS over IPv6)
		return Metadata
	case b == [16]byte{15: 1}:
		return Loopback
	case b == [16]byte{}:
		return Unspecified
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(b[4:12]): // 64:ff9b::/96
		return classify4([4]byte(b[12:16]))
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1: // 64:ff9b:1::/48
		return Private
	case b[0] == 0x20 && b[1] == 0x02: // 2002::/16, 6to4
		return classify4([4]byte(b[2:6]))
	case zero(b[0:12]): // ::a.b.c.d, IPv4-compatible (deprecated, still routed by some stacks)
		return classify4([4]byte(b[12:16]))
	case b[0]&0xfe == 0xfc: // fc00::/7
		return Private
	case b[0] == 0xfe && b[1]&0xc0 == 0x80: // fe80::/10
		return LinkLocal
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0: // fec0::/10
		return Private
	case b[0] == 0xff: // multicast
		return Reserved
	case b[0] == 0x01 && b[1] == 0x00 && zero(b[2:8]): // 100::/64 discard-only
		return Reserved
	}
	return None
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func classify4(b [4]byte) Class {
	switch {
	case b == [4]byte{169, 254, 169, 254}, // AWS, GCP, Azure, OCI, DigitalOcean...
		b == [4]byte{169, 254, 170, 2},   // AWS ECS task metadata
		b == [4]byte{169, 254, 170, 23},  // AWS EKS pod identity
		b == [4]byte{100, 100, 100, 200}: // Alibaba Cloud
		return Metadata
	case b[0] == 127:
		return Loopback
	case b[0] == 0:
		return Unspecified
	case b[0] == 10, b[0] == 172 && b[1]&0xf0 == 16, b[0] == 192 && b[1] == 168:
		return Private
	case b[0] == 169 && b[1] == 254:
		return LinkLocal
	case b[0] == 100 && b[1]&0xc0 == 64:
		return CGNAT
	case b[0] >= 224, b[0] == 192 && b[1] == 0 && b[2] == 0, b[0] == 198 && b[1]&0xfe == 18:
		return Reserved
	}
	return None
}
