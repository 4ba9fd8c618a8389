package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxJWKSBytes caps a fetched JWK Set or discovery document.
	maxJWKSBytes = 1 << 20
	// fetchTimeout bounds one HTTP fetch of a key source.
	fetchTimeout = 10 * time.Second
	// unknownKidWait is how long a request whose kid is unknown waits for
	// the refresh it triggered before it is refused.
	unknownKidWait = 500 * time.Millisecond
	// minMaxAge and maxMaxAge clamp a JWKS response's Cache-Control
	// max-age when Refresh is not configured.
	minMaxAge = time.Minute
	maxMaxAge = 24 * time.Hour
)

// issuer is one trusted issuer: its rules and its current key set.
type issuer struct {
	cfg        IssuerConfig
	refreshSet bool // Refresh was configured (else Cache-Control may set it)
	allowed    map[string]bool
	allowOct   bool
	client     *http.Client
	log        *slog.Logger

	keys atomic.Pointer[keySet]
	// epoch grows whenever a refresh drops a key, so that tokens cached
	// as verified by that key are verified again (and refused).
	epoch atomic.Uint64

	force chan struct{} // asks the refresh loop to refresh now

	mu         sync.Mutex
	lastForced time.Time
	refreshed  chan struct{} // closed (and replaced) after each refresh attempt

	jwksURI string // discovered jwks_uri; only the refresh loop touches it
}

func newIssuer(cfg IssuerConfig, refreshSet bool, client *http.Client, log *slog.Logger) *issuer {
	is := &issuer{
		cfg:        cfg,
		refreshSet: refreshSet,
		allowed:    map[string]bool{},
		client:     client,
		log:        log.With("issuer", cfg.Issuer),
		force:      make(chan struct{}, 1),
		refreshed:  make(chan struct{}),
	}
	for _, a := range cfg.Algorithms {
		is.allowed[a] = true
		if algorithms[a].kty == "oct" {
			is.allowOct = true
		}
	}
	return is
}

// run refreshes the key set until ctx ends: every interval after a
// success, with a doubling backoff (from one second up to the interval)
// after a failure, and at once when a request met an unknown kid.
func (is *issuer) run(ctx context.Context, maxAge time.Duration, lastErr error) {
	backoff := time.Second
	for {
		wait := is.interval(maxAge)
		if lastErr != nil {
			wait = min(backoff, wait)
			backoff = min(2*backoff, is.interval(0))
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-is.force:
			t.Stop()
		}
		maxAge, lastErr = is.refresh(ctx)
	}
}

func (is *issuer) interval(maxAge time.Duration) time.Duration {
	if is.refreshSet || maxAge == 0 {
		return is.cfg.Refresh
	}
	return min(max(maxAge, minMaxAge), maxMaxAge)
}

// requestRefresh asks for a refresh because a token named a kid the set
// lacks. At most one such refresh runs per MinRefresh; ok is false when
// this one was refused by that limit. done is closed when the next
// refresh attempt has finished.
func (is *issuer) requestRefresh() (done <-chan struct{}, ok bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	now := time.Now()
	if !is.lastForced.IsZero() && now.Sub(is.lastForced) < is.cfg.MinRefresh {
		return nil, false
	}
	is.lastForced = now
	select {
	case is.force <- struct{}{}:
	default:
	}
	return is.refreshed, true
}

// waitForKeys triggers a refresh (within the rate limit) and waits for it
// at most unknownKidWait. It reports whether a refresh finished.
func (is *issuer) waitForKeys(ctx context.Context) bool {
	done, ok := is.requestRefresh()
	if !ok {
		return false
	}
	t := time.NewTimer(unknownKidWait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// refresh fetches and installs the key set. On any failure the old set
// stays in use (stale keys beat no keys while the issuer is down).
func (is *issuer) refresh(ctx context.Context) (time.Duration, error) {
	defer func() {
		is.mu.Lock()
		close(is.refreshed)
		is.refreshed = make(chan struct{})
		is.mu.Unlock()
	}()
	body, maxAge, err := is.fetch(ctx)
	if err == nil {
		err = is.install(body)
	}
	if err != nil {
		n := 0
		if s := is.keys.Load(); s != nil {
			n = len(s.keys)
		}
		is.log.Warn("token: key refresh failed; keeping the current keys", "error", err, "keys", n)
		return 0, err
	}
	return maxAge, nil
}

// install parses a JWK Set and makes it current.
func (is *issuer) install(body []byte) error {
	set, skipped, err := parseJWKS(body, is.allowOct)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		is.log.Warn("token: key skipped", "key", s)
	}
	if len(set.keys) == 0 {
		return errors.New("the key set holds no usable key")
	}
	if old := is.keys.Load(); old != nil {
		now := set.ids()
		for id := range old.ids() {
			if !now[id] {
				is.epoch.Add(1)
				break
			}
		}
	}
	is.keys.Store(set)
	is.log.Debug("token: keys loaded", "keys", len(set.keys))
	return nil
}

// fetch reads the key source: the file, the JWKS URL, or the jwks_uri of
// the discovery document.
func (is *issuer) fetch(ctx context.Context) ([]byte, time.Duration, error) {
	switch {
	case is.cfg.JWKSFile != "":
		b, err := readFileCapped(is.cfg.JWKSFile)
		return b, 0, err
	case is.cfg.JWKSURL != "":
		return is.get(ctx, is.cfg.JWKSURL)
	}
	if is.jwksURI == "" {
		uri, err := is.discover(ctx)
		if err != nil {
			return nil, 0, err
		}
		is.jwksURI = uri
	}
	b, maxAge, err := is.get(ctx, is.jwksURI)
	if err != nil {
		is.jwksURI = "" // discover again next time: it may have moved
	}
	return b, maxAge, err
}

// discover reads the OpenID configuration and returns its jwks_uri, after
// checking that the document speaks for the configured issuer (OpenID
// Connect Discovery §4.3).
func (is *issuer) discover(ctx context.Context) (string, error) {
	b, _, err := is.get(ctx, is.cfg.Discovery)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("discovery %s: %v", is.cfg.Discovery, err)
	}
	if doc.Issuer != is.cfg.Issuer {
		return "", fmt.Errorf("discovery %s: the document's issuer %q is not the configured issuer", is.cfg.Discovery, doc.Issuer)
	}
	if err := checkHTTPURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery %s: jwks_uri: %v", is.cfg.Discovery, err)
	}
	return doc.JWKSURI, nil
}

// get fetches u with a timeout and a size cap. Any Content-Type is taken.
func (is *issuer) get(ctx context.Context, u string) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := is.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %v", u, err)
	}
	if len(b) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("GET %s: larger than %d bytes", u, maxJWKSBytes)
	}
	return b, maxAge(resp.Header.Get("Cache-Control")), nil
}

// maxAge reads Cache-Control's max-age; 0 when absent or no-store.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if d == "no-store" || d == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

func readFileCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxJWKSBytes)
	}
	return b, nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}
