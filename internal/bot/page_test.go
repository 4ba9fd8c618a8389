package bot

import (
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPageAndCSP(t *testing.T) {
	is := NewIssuer(testKey, 16, 5*time.Minute, time.Hour, true)
	tok := is.NewToken(ip1, firefox, t0)
	page := string(Page(tok, 16))
	if !strings.Contains(page, `data-token="`+tok+`"`) || !strings.Contains(page, `data-bits="16"`) {
		t.Fatal("page does not carry the token and the difficulty")
	}
	// The CSP allows exactly the page's inline script and style.
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`<`+tag+`>([\s\S]*?)</`+tag+`>`).FindAllStringSubmatch(page, -1)
		if len(m) != 1 {
			t.Fatalf("%d <%s> elements", len(m), tag)
		}
		h := sha256.Sum256([]byte(m[0][1]))
		if src := "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"; !strings.Contains(CSP, tag+"-src "+src) {
			t.Errorf("CSP %q does not allow the page's %s (%s)", CSP, tag, src)
		}
	}
	if !strings.Contains(CSP, "default-src 'none'") || strings.Contains(CSP, "unsafe-inline") {
		t.Errorf("CSP %q is not strict", CSP)
	}
	// Whatever a token holds, nothing but its own alphabet reaches the page.
	if p := string(Page(`"><script>alert(1)</script>`, 8)); strings.Contains(p, "<script>alert") {
		t.Fatal("token not filtered")
	}
}

// TestScriptSolves runs the page's own JavaScript under Node (when it is
// installed) with a stand-in DOM, in a secure context and not (where
// there is no WebCrypto), and checks the answer it posts with VerifyAnswer.
func TestScriptSolves(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the challenge script is checked by the Go tests only")
	}
	is := NewIssuer(testKey, 16, 5*time.Minute, time.Hour, true)
	for _, secure := range []bool{true, false} {
		name := "plain http"
		if secure {
			name = "secure context"
		}
		t.Run(name, func(t *testing.T) {
			now := time.Now()
			tok := is.NewToken(ip1, firefox, now)
			harness := `
const attrs = {"data-token": process.argv[2], "data-bits": process.argv[3]};
globalThis.isSecureContext = process.argv[4] === "true";
if (!isSecureContext) { Object.defineProperty(globalThis, "crypto", {value: undefined}); }
globalThis.document = {body: {getAttribute: (k) => attrs[k]}, getElementById: () => ({})};
globalThis.location = {href: "http://shop.test/account", replace: (u) => { console.log("REPLACE " + u); }, reload: () => {}};
globalThis.fetch = async (url, opt) => {
  console.log("POST " + opt.method + " " + url + " " + opt.headers["Vigil-Challenge"]);
  return {ok: true};
};
`
			dir := t.TempDir()
			file := filepath.Join(dir, "run.js")
			if err := os.WriteFile(file, []byte(harness+Script), 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			out, err := exec.Command(node, file, tok, "16", map[bool]string{true: "true", false: "false"}[secure]).CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "POST POST http://shop.test/account ") || lines[1] != "REPLACE http://shop.test/account" {
				t.Fatalf("script output:\n%s", out)
			}
			answer := strings.TrimPrefix(lines[0], "POST POST http://shop.test/account ")
			if err := is.VerifyAnswer(answer, ip1, firefox, time.Now()); err != nil {
				t.Fatalf("the script's answer %q is refused: %v", answer, err)
			}
			t.Logf("solved 16 bits in %v (node start included)", time.Since(start).Round(time.Millisecond))
		})
	}
}
