package openapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

const (
	// MaxSpecSize is the largest document Load reads, from a file or a URL.
	MaxSpecSize = 32 << 20
	// DefaultFetchTimeout bounds one URL fetch when ctx has no deadline.
	DefaultFetchTimeout = 30 * time.Second
)

// Load reads a spec from a file path or an http(s) URL and parses it. A URL
// fetch honours ctx, is bounded by DefaultFetchTimeout when ctx has no
// deadline, and fails on a non-2xx status or a body over MaxSpecSize.
func Load(ctx context.Context, source string) (*Spec, error) {
	f := fetcher{source: source}
	data, _, err := f.fetch(ctx)
	if err != nil {
		return nil, err
	}
	return parse(ctx, data, source)
}

func isURL(source string) bool {
	s := strings.ToLower(source)
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// fetcher reads one source, remembering the validators of the last HTTP
// response for conditional re-fetches.
type fetcher struct {
	source       string
	client       *http.Client
	maxSize      int64 // 0 means MaxSpecSize
	etag         string
	lastModified string
}

// fetch returns the document's bytes; notModified is true when the server
// answered 304 to a conditional request.
func (f *fetcher) fetch(ctx context.Context) (data []byte, notModified bool, err error) {
	if !isURL(f.source) {
		path := strings.TrimPrefix(f.source, "file://")
		fh, err := os.Open(path)
		if err != nil {
			return nil, false, fmt.Errorf("openapi: %w", err)
		}
		defer fh.Close()
		data, err = readCapped(fh, f.maxSize)
		if err != nil {
			return nil, false, fmt.Errorf("openapi: %s: %w", f.source, err)
		}
		return data, false, nil
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultFetchTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.source, nil)
	if err != nil {
		return nil, false, fmt.Errorf("openapi: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
	if f.etag != "" {
		req.Header.Set("If-None-Match", f.etag)
	}
	if f.lastModified != "" {
		req.Header.Set("If-Modified-Since", f.lastModified)
	}
	client := f.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("openapi: fetch %s: %w", f.source, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && (f.etag != "" || f.lastModified != "") {
		return nil, true, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, false, fmt.Errorf("openapi: fetch %s: unexpected status %s", f.source, resp.Status)
	}
	data, err = readCapped(resp.Body, f.maxSize)
	if err != nil {
		return nil, false, fmt.Errorf("openapi: fetch %s: %w", f.source, err)
	}
	f.etag = resp.Header.Get("ETag")
	f.lastModified = resp.Header.Get("Last-Modified")
	return data, false, nil
}

func readCapped(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		max = MaxSpecSize
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("document larger than %d bytes", max)
	}
	return buf.Bytes(), nil
}

// Watch loads source (a file or a URL) now and then every interval, and
// calls fn with the new Spec whenever the document changed, or with an
// error when loading fails (once per distinct failure, not on every tick).
// The first call happens before the first tick, with the spec or the error.
// URL sources are re-fetched with If-None-Match / If-Modified-Since when the
// server sent validators. Watch blocks until ctx is done; run it in its own
// goroutine. fn is never called concurrently.
func Watch(ctx context.Context, source string, every time.Duration, fn func(*Spec, error)) {
	if every <= 0 {
		every = time.Minute
	}
	f := &fetcher{source: source}
	var lastSum [sha256.Size]byte
	var lastErr string
	loaded := false

	poll := func() {
		data, notModified, err := f.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		if notModified {
			return
		}
		var spec *Spec
		if err == nil {
			sum := sha256.Sum256(data)
			if loaded && sum == lastSum && lastErr == "" {
				return
			}
			spec, err = parse(ctx, data, source)
			if err == nil {
				lastSum, lastErr, loaded = sum, "", true
				fn(spec, nil)
				return
			}
			// An invalid document is remembered too, so that it is not
			// reported again until it changes.
			lastSum, loaded = sum, true
		}
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			slog.Warn("openapi: spec watch failed", "source", source, "err", err)
			fn(nil, err)
		}
	}

	poll()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			poll()
		}
	}
}
