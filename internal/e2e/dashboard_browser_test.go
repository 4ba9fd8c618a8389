package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The viewport of every page the browser tests open, and of the
// screenshots under docs/img.
const viewportW, viewportH = 1440, 900

// chromium returns the Chromium binary, or skips the test without one
// (fails under CI=true, where .ci/run installs the Debian package).
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (CI=true): .ci/run installs the Debian package chromium")
	}
	t.Skip("chromium not found: install the Debian package chromium to run the browser tests")
	return ""
}

// browser is one headless Chromium tab on a base URL. Every console
// error, uncaught exception and CSP violation the pages report is kept
// for problems.
type browser struct {
	t    *testing.T
	ctx  context.Context // the tab; started, without a deadline
	base string
	// shots is VIGIL_SCREENSHOTS: where screenshot writes PNGs ("": none).
	shots string

	mu      sync.Mutex
	console []string
}

// cspWatch runs in every document before its own scripts (DevTools
// scripts are not subject to the page's CSP) and reports violations to
// the console, which the test reads.
const cspWatch = `document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));`

func startBrowser(t *testing.T, exe, base string) *browser {
	t.Helper()
	profile := t.TempDir() // removed after the browser stops (cleanups run last in, first out)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(viewportW, viewportH),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx)
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base, shots: os.Getenv("VIGIL_SCREENSHOTS")}
	start, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx (no deadline)
		t.Fatalf("chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// Refused requests the test makes on purpose (401, 403) are
			// network entries; a CSP violation is not.
			if m.Source == "network" || (m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException &&
				!strings.Contains(m.Text, "Content Security Policy")) {
				continue
			}
			b.mu.Lock()
			b.console = append(b.console, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
			b.mu.Unlock()
		}
	}()
	err := chromedp.Do(start,
		chromedp.EmulateViewport(viewportW, viewportH),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
			return err
		}))
	if err != nil {
		t.Fatalf("chromium setup: %v", err)
	}
	if b.shots != "" {
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// problems returns the console errors and CSP violations so far.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// forget drops the problems seen so far.
func (b *browser) forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.console = nil
}

// step is a context for one browser action.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 20*time.Second)
}

// open navigates to path (relative to base) and returns the status of
// the document that finally loaded.
func (b *browser) open(path string) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	if resp == nil {
		b.t.Fatalf("open %s: no document loaded (a fragment-only navigation?)", path)
	}
	b.checkHeaders(path, resp)
	return resp.Status
}

// leave loads about:blank, so that the next open loads a new document
// even when only the fragment differs.
func (b *browser) leave() {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatalf("about:blank: %v", err)
	}
}

// follow runs an action that loads a new document (a click on a link, a
// form submitted) and returns that document's status.
func (b *browser) follow(what string, a chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if resp == nil {
		b.t.Fatalf("%s: no document loaded", what)
	}
	b.checkHeaders(what, resp)
	return resp.Status
}

// click follows the first element matching css (a link or a button).
func (b *browser) click(css string) int64 {
	b.t.Helper()
	return b.follow("click "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// checkHeaders: every dashboard document carries the CSP.
func (b *browser) checkHeaders(what string, resp *network.Response) {
	b.t.Helper()
	if !strings.Contains(resp.URL, "/ui/") {
		return
	}
	if got := header(resp.Headers, "Content-Security-Policy"); got != dashboardCSP {
		b.t.Errorf("%s (%s): Content-Security-Policy %q, want %q", what, resp.URL, got, dashboardCSP)
	}
}

func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// eval evaluates a JavaScript expression in the page (awaiting a
// promise) and decodes its JSON value into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// count is the number of elements matching css.
func (b *browser) count(css string) int {
	b.t.Helper()
	return eval[int](b, "document.querySelectorAll("+js(css)+").length")
}

// text is the trimmed text of the first element matching css, or "" when
// there is none.
func (b *browser) text(css string) string {
	b.t.Helper()
	return eval[string](b, "(document.querySelector("+js(css)+")?.textContent ?? '').trim()")
}

// texts are the trimmed texts of every element matching css.
func (b *browser) texts(css string) []string {
	b.t.Helper()
	return eval[[]string](b, "Array.from(document.querySelectorAll("+js(css)+"), e => e.textContent.trim())")
}

// column is the text of one column in the body rows (tr.endpoint) of
// table, the column whose header holds the sort link a.sort[data-sort=key].
func (b *browser) column(table, key string) []string {
	b.t.Helper()
	return eval[[]string](b, `(() => {
  const th = document.querySelector(`+js(table+` a.sort[data-sort="`+key+`"]`)+`)?.closest('th');
  if (!th) return [];
  const i = Array.from(th.parentElement.children).indexOf(th);
  return Array.from(document.querySelectorAll(`+js(table+" tr.endpoint")+`), r => r.children[i]?.textContent.trim() ?? '');
})()`)
}

// attr is an attribute of the first element matching css ("" when absent).
func (b *browser) attr(css, name string) string {
	b.t.Helper()
	return eval[string](b, "document.querySelector("+js(css)+")?.getAttribute("+js(name)+") ?? ''")
}

// path is the location's path and query.
func (b *browser) path() string {
	b.t.Helper()
	return eval[string](b, "location.pathname + location.search + location.hash")
}

// require fails the test unless every css selector matches.
func (b *browser) require(page string, css ...string) {
	b.t.Helper()
	for _, c := range css {
		if b.count(c) == 0 {
			b.t.Errorf("%s (%s): no %s", page, b.path(), c)
		}
	}
}

// notFound checks that path is the 404 page (p#not-found).
func (b *browser) notFound(path string) {
	b.t.Helper()
	if st := b.open(path); st != http.StatusNotFound || b.count("p#not-found") == 0 {
		b.t.Errorf("%s: status %d, want the 404 page with p#not-found", path, st)
	}
}

// typeInto replaces the value of the input matching css by typing v.
func (b *browser) typeInto(css, v string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Clear(chromedp.CSS(css)), chromedp.SendKeys(chromedp.CSS(css), v)); err != nil {
		b.t.Fatalf("type into %s: %v", css, err)
	}
}

// waitFor polls cond (which may use the page) every 250 ms until it holds
// or d passes; reload reloads the page between polls for pages that do
// not update themselves.
func (b *browser) waitFor(d time.Duration, reload bool, what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %s (at %s)", what, d, b.path())
		}
		time.Sleep(250 * time.Millisecond)
		if reload {
			ctx, cancel := b.step()
			err := chromedp.Do(ctx, chromedp.Reload())
			cancel()
			if err != nil {
				b.t.Fatalf("reload: %v", err)
			}
		}
	}
}

// screenshot saves the viewport as name.png under VIGIL_SCREENSHOTS.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
