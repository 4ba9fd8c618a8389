package iprep

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Countries maps addresses to ISO 3166-1 alpha-2 country codes through a
// MaxMind-format database (GeoLite2-Country, GeoIP2-Country or -City, or
// any MMDB whose records carry country.iso_code, or registered_country's
// when country is absent). The file is read into memory (no mmap), so a
// reload can swap it while lookups run.
type Countries struct {
	path string
	max  int64
	db   atomic.Pointer[countryDB]
	st   status
}

// countryDB is one loaded database and its cache of decoded records: the
// codes of the records seen so far, by data offset (a Country database has
// a few hundred distinct records).
type countryDB struct {
	r     *maxminddb.Reader
	mu    sync.Mutex
	cache atomic.Pointer[map[uintptr]string]
}

const maxCachedRecords = 4096

// OpenCountries loads the database at path (at most max bytes; 0 means
// DefaultMaxFileBytes).
func OpenCountries(path string, max int64) (*Countries, error) {
	c := &Countries{path: path, max: max}
	db, err := c.read()
	if err != nil {
		return nil, err
	}
	c.db.Store(db)
	c.st.set(int(db.r.Metadata.NodeCount), nil, true)
	return c, nil
}

func (c *Countries) read() (*countryDB, error) {
	data, err := readBounded(c.path, c.max)
	if err != nil {
		return nil, err
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, &ParseError{File: c.path, Msg: fmt.Sprintf("not a MaxMind DB: %v", err)}
	}
	if r.Metadata.IPVersion != 4 && r.Metadata.IPVersion != 6 {
		return nil, &ParseError{File: c.path, Msg: fmt.Sprintf("ip_version %d", r.Metadata.IPVersion)}
	}
	db := &countryDB{r: r}
	m := map[uintptr]string{}
	db.cache.Store(&m)
	return db, nil
}

// Path is the database file.
func (c *Countries) Path() string { return c.path }

// Reload reads the database again; on error the previous one stays.
func (c *Countries) Reload() error {
	db, err := c.read()
	if err == nil {
		c.db.Store(db)
		c.st.set(int(db.r.Metadata.NodeCount), nil, false)
		return nil
	}
	c.st.set(0, err, false)
	return err
}

// Status tells what the database serves and how the last reload went.
func (c *Countries) Status() Status { return c.st.get() }

// Country returns the upper-case country code of a, or "" when the database
// has none (private and reserved ranges, unassigned space). After the first
// lookup of each database record it does not allocate.
func (c *Countries) Country(a netip.Addr) string {
	db := c.db.Load()
	a = a.Unmap().WithZone("")
	if !a.IsValid() || (a.Is6() && db.r.Metadata.IPVersion == 4) {
		return ""
	}
	res := db.r.Lookup(a)
	if !res.Found() {
		return ""
	}
	off := res.Offset()
	if code, ok := (*db.cache.Load())[off]; ok {
		return code
	}
	return db.decode(res, off)
}

func (db *countryDB) decode(res maxminddb.Result, off uintptr) string {
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
		Registered struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"registered_country"`
	}
	code := ""
	if err := res.Decode(&rec); err == nil {
		code = rec.Country.ISOCode
		if code == "" {
			code = rec.Registered.ISOCode
		}
	}
	if !validCode(code) {
		code = ""
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	old := *db.cache.Load()
	if len(old) < maxCachedRecords {
		m := make(map[uintptr]string, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[off] = code
		db.cache.Store(&m)
	}
	return code
}

func validCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// CountrySet is a set of country codes, as a bitmap.
type CountrySet [11]uint64 // 26*26 = 676 bits

// ParseCountry validates an ISO 3166-1 alpha-2 code (any case) and returns
// it upper-cased.
func ParseCountry(s string) (string, error) {
	if u := strings.ToUpper(s); validCode(u) {
		return u, nil
	}
	return "", fmt.Errorf("%q is not a two-letter ISO 3166-1 country code", s)
}

func countryBit(code string) int { return int(code[0]-'A')*26 + int(code[1]-'A') }

// Add puts a code (as returned by ParseCountry) in the set.
func (cs *CountrySet) Add(code string) {
	if validCode(code) {
		i := countryBit(code)
		cs[i/64] |= 1 << (i % 64)
	}
}

// Has reports whether code is in the set ("" never is).
func (cs *CountrySet) Has(code string) bool {
	if !validCode(code) {
		return false
	}
	i := countryBit(code)
	return cs[i/64]&(1<<(i%64)) != 0
}
