package logs

// mayNormalize is the fast path that keeps log throughput: only a path with
// an escape (%), a backslash, // or /. can have another canonical form that
// matters to discovery; every other path is left as logged without calling
// pathnorm (a raw byte the gateway would escape, say a space, stays as is).
// It may say true for a path that needs nothing (pathnorm then returns it
// unchanged, without allocating), never false for one that does. It reads
// eight bytes at a time, windows overlapping by one so that a pair split
// across two windows is seen: at millions of lines per second a loop over
// bytes costs twice as much.
func mayNormalize(p string) bool {
	n := len(p)
	if n < 8 {
		for i := 0; i < n; i++ {
			switch p[i] {
			case '%', '\\':
				return true
			case '/':
				if i+1 < n && (p[i+1] == '/' || p[i+1] == '.') {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i < n-8; i += 7 {
		if suspicious(word(p, i)) {
			return true
		}
	}
	return suspicious(word(p, n-8))
}

// word loads p[i:i+8] little-endian (one load once compiled).
func word(p string, i int) uint64 {
	return uint64(p[i]) | uint64(p[i+1])<<8 | uint64(p[i+2])<<16 | uint64(p[i+3])<<24 |
		uint64(p[i+4])<<32 | uint64(p[i+5])<<40 | uint64(p[i+6])<<48 | uint64(p[i+7])<<56
}

const ones = 0x0101010101010101

// suspicious reports whether the eight bytes in w may hold a %, a \ or a
// slash followed by a slash or a dot ('.' is '/' with the low bit cleared).
func suspicious(w uint64) bool {
	pair := zeroByte(w^(ones*'/')) << 8 & zeroByte((w|ones)^(ones*'/'))
	return zeroByte(w^(ones*'%'))|zeroByte(w^(ones*'\\'))|pair != 0
}

// zeroByte sets the high bit of every zero byte of x. It may also set it in
// a byte just above a zero byte (a borrow): a false alarm, never a miss.
func zeroByte(x uint64) uint64 { return (x - ones) &^ x & (ones << 7) }
