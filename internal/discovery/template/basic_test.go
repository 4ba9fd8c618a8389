package template

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestTyped(t *testing.T) {
	tests := []struct {
		seg  string
		want bool
	}{
		{"8812", true}, {"0", true}, {"550e8400-e29b-41d4-a716-446655440000", true},
		{"507f1f77bcf86cd799439011", true}, {"d41d8cd98f00b204e9800998ecf8427e", true},
		{"da39a3ee5e6b4b0d3255bfef95601890afd80709", true}, {"a1b2c3d4", true},
		{"2024-01-31", true}, {"20240131", true}, {"bob@example.com", true}, {"bob%40example.com", true},
		{"ORD-2024-00017", true}, {"usr_8Hk2", true}, {"cus_9s6XKzkNRiz8i3", true}, {"ch_3MqLiJLkdIwHu7ix0snN0B15", true},
		{"in_1N2b3C4d5E6f7G8h", true}, {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", true},
		{"12.json", true}, {"inv-00017", true}, {"ord12345", true},
		// ids with an extension: hex with a short type prefix (Twilio); a
		// content-hashed asset stays a file
		{"SM3254c053879827681ed8302143597751.json", true}, {"SMaaa4b017445e5cc221629c396ea298a3.json", true}, {"d41d8cd98f00b204e9800998ecf8427e.json", true},
		{"xjAJXh38I15wypJXxuGMBp0EAVxt0G0biEntp43Qt6E.ttf", false},
		{"SpeedyCGIhandler2008.pdf", false}, {"jquery-3.6.0.min.js", false}, {"bootstrap4.min.css", false},
		{"thumbnail_1920x1080.jpg", false},
		// short type-prefixed ids; snake_case words stay constant
		{"usr_aDEU", true}, {"usr_416d", true}, {"usr_BRLEsf", true}, {"usr_nkEp", true}, {"ch_KzAb", true},
		{"rate_limit", false}, {"bulk_delete", false}, {"payment_intents", false}, {"top_100", false}, {"api_v2", false},
		{"v1", false}, {"v2", false}, {"api", false}, {"graphql", false}, {"oauth2", false}, {"s3", false},
		{"html5", false}, {"mp4", false}, {"index.html", false}, {"logo.png", false}, {"users", false},
		{"x86_64", false}, {"i18n", false}, {"k8s", false}, {"sha256", false}, {"OAuth2", false}, {"IPv6", false},
		{"logstash-monitorama-2013", false}, {"year-in-review-2006.html", false}, {"logstash-1.3.2-monolithic.jar", false},
		{"ahhh___rage_face_by_samusmmx-d5g5zap.png", false}, {"1.0", false}, {"sysadvent2010", false},
		{"alice", false}, {"hello-world", false}, {"XMLHttpRequest", false}, {"me", false},
		{"AvailablePhoneNumbers", false}, {"IncomingPhoneNumbers", false}, {"CredentialListMappings", false},
		{"IpAccessControlLists", false}, {"AddOnResults", false},
		{"KzAbQrTxLmNpWvYs", true}, {"DgboFzcqnavbuVhAAvtRuH", true},
	}
	for _, tt := range tests {
		if got := typed(tt.seg, 256); got != tt.want {
			t.Errorf("typed(%q) = %v, want %v", tt.seg, got, tt.want)
		}
	}
}

func TestBehaviour(t *testing.T) {
	tp := New(Config{})
	for i := 0; i < 200; i++ {
		tp.Observe(fmt.Sprintf("/cart/items/%d", 1000+i))
		tp.Observe(fmt.Sprintf("/cart/total/%d", 1000+i))
		tp.Observe(fmt.Sprintf("/users/user%c%c", 'a'+i%26, 'a'+i/26))
		tp.Observe("/cart/items")
	}
	tp.Observe("/helloworld.Greeter/SayHello")
	tp.Observe("/static/logo.png")
	tests := []struct{ in, want string }{
		{"/cart/items/8812", "/cart/items/{parameter}"},
		{"/cart/total/77?x=1", "/cart/total/{parameter}"},
		{"/cart/items/", "/cart/items"},
		{"/cart/items/8812.json", "/cart/items/{parameter}.json"},
		{"/cart/items/{parameter}.json", "/cart/items/{parameter}.json"},
		{"/nowhere/550e8400-e29b-41d4-a716-446655440000.xml", "/nowhere/{parameter}.xml"},
		{"//cart//items", "/cart/items"},
		{"/users/zelda", "/users/{parameter}"},
		{"/users/zelda/", "/users/{parameter}"},
		{"/helloworld.Greeter/SayHello", "/helloworld.Greeter/SayHello"},
		{"/static/logo.png", "/static/logo.png"},
		{"/unknown/550e8400-e29b-41d4-a716-446655440000/x", "/unknown/{parameter}/x"},
		{"/api/v1/things", "/api/v1/things"},
		{"", "/"},
		{"/", "/"},
		{"/users/%7Bparameter%7D", "/users/{parameter}"},
		{"/" + strings.Repeat("a/", 40), "/" + strings.Repeat("a/", 32) + "{parameter}"},
	}
	for _, tt := range tests {
		if got := tp.Template(tt.in); got != tt.want {
			t.Errorf("Template(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	want := []string{"/cart/items", "/cart/items/{parameter}", "/cart/total/{parameter}", "/helloworld.Greeter/SayHello", "/static/logo.png", "/users/{parameter}"}
	if got := tp.Templates(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Templates() = %v, want %v", got, want)
	}
}

func TestFewSiblingsStayApart(t *testing.T) {
	tp := New(Config{})
	for i := 0; i < 1000; i++ {
		for _, p := range []string{"/cart/items", "/cart/total", "/cart/clear", "/login", "/products", "/api/v1/status", "/api/v2/status"} {
			tp.Observe(p)
		}
	}
	if got := len(tp.Templates()); got != 7 {
		t.Errorf("templates = %v", tp.Templates())
	}
}

func TestRevisable(t *testing.T) {
	// Uniform traffic over 15 leaf routes looks like values at first; once
	// the same 40 names keep coming back they are vocabulary again.
	tp := New(Config{MinDistinct: 10})
	for i := 0; i < 15; i++ {
		tp.Observe(fmt.Sprintf("/api/route%c%c", 'a'+i%26, 'a'+i/26))
	}
	if got := tp.Template("/api/routeaa"); got != "/api/{parameter}" {
		t.Fatalf("after 15 distinct: %q", got)
	}
	g := tp.Generation()
	for r := 0; r < 60; r++ {
		for i := 0; i < 15; i++ {
			tp.Observe(fmt.Sprintf("/api/route%c%c", 'a'+i%26, 'a'+i/26))
		}
	}
	if got := tp.Template("/api/routeaa"); got != "/api/routeaa" {
		t.Errorf("after repetition: %q, want /api/routeaa", got)
	}
	if tp.Generation() <= g {
		t.Error("Generation did not move")
	}
}

func TestPinSplitSpec(t *testing.T) {
	tp := New(Config{})
	if err := tp.AddSpecTemplate("/pets/{petId}"); err != nil {
		t.Fatal(err)
	}
	if err := tp.AddSpecTemplate("/pets/findByStatus"); err != nil {
		t.Fatal(err)
	}
	if err := tp.AddSpecTemplate("/products/{product_id}.json"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Pin("/repos/{owner}/{repo}"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Pin("bad"); err == nil {
		t.Error("Pin without leading slash accepted")
	}
	for i := 0; i < 100; i++ {
		tp.Observe(fmt.Sprintf("/users/name%c%c", 'a'+i%26, 'a'+i/26))
	}
	g := tp.Generation()
	if err := tp.Split("/users/me"); err != nil {
		t.Fatal(err)
	}
	if tp.Generation() == g {
		t.Error("Split did not move Generation")
	}
	tests := []struct{ in, want string }{
		{"/pets/42", "/pets/{petId}"},
		{"/pets/fluffy", "/pets/{petId}"},
		{"/pets/findByStatus", "/pets/findByStatus"},
		{"/repos/torvalds/linux", "/repos/{owner}/{repo}"},
		{"/users/me", "/users/me"},
		{"/users/zed", "/users/{parameter}"},
		{"/products/632910392.json", "/products/{product_id}.json"},
		{"/products/{product_id}.json", "/products/{product_id}.json"},
		{"/products/{parameter}.json", "/products/{product_id}.json"},
		{"/products/12", "/products/{parameter}"},
	}
	for _, tt := range tests {
		tp.Observe(tt.in)
		if got := tp.Template(tt.in); got != tt.want {
			t.Errorf("Template(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConcurrent(t *testing.T) {
	tp := New(Config{})
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				_ = tp.Template(fmt.Sprintf("/users/u%d/orders/%d", i%50, i))
				_ = tp.Templates()
			}
		}()
	}
	for i := 0; i < 5000; i++ {
		tp.Observe(fmt.Sprintf("/users/name%d/orders/%d", i%300, i))
	}
	close(done)
	if got := tp.Template("/users/someone/orders/1"); got != "/users/{parameter}/orders/{parameter}" {
		t.Errorf("got %q", got)
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/cart/items/8812", "/users/alice/", "//a//b?c#d", "/pkg.Svc/Method", "/%zz/%41", "/{x}/{", "/a.b.c/", "/" + strings.Repeat("x/", 40),
		"/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages/SM0000000000000000000000000000000f.json",
		"/products/{product_id}.json", "/products/12.json", "/{a}.b.c", "/{}.json", "/{x}."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tp := New(Config{MinDistinct: 2, ManyDistinct: 3})
		for _, q := range []string{"/users/alice", "/users/bob", "/users/carol", "/users/dave/x"} {
			tp.Observe(q)
		}
		got := tp.ObserveTemplate(p)
		if again := tp.Template(got); again != got {
			t.Fatalf("Template(%q) = %q, Template of that = %q", p, got, again)
		}
		// Enough repeats to cross versionHits: a demoted date keeps the
		// invariants too.
		for range versionHits {
			got = tp.ObserveTemplate(p)
		}
		if again := tp.Template(got); again != got {
			t.Fatalf("Template(%q) = %q, Template of that = %q", p, got, again)
		}
		if got != tp.Template(p) {
			t.Fatalf("ObserveTemplate and Template disagree on %q", p)
		}
	})
}

func BenchmarkObserve(b *testing.B) {
	reqs := traffic(newGen(1), githubEndpoints, 100000, 5000)
	tp := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tp.Observe(reqs[i%len(reqs)][0])
	}
}

func BenchmarkTemplate(b *testing.B) {
	reqs := traffic(newGen(1), githubEndpoints, 100000, 5000)
	tp := New(Config{})
	for _, r := range reqs {
		tp.Observe(r[0])
	}
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = tp.Template(reqs[i%len(reqs)][0])
		}
	})
	b.Run("known-template", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = tp.Template("/repos/{parameter}/{parameter}/issues/{parameter}")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_ = tp.Template(reqs[i%len(reqs)][0])
				i++
			}
		})
	})
}

// TestMemoryMillionPaths feeds 1,000,000 distinct raw paths and checks the
// heap stays bounded.
func TestMemoryMillionPaths(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow under -short and -race; run without -race")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tp := New(Config{})
	g := newGen(7)
	for i := 0; i < 1_000_000; i++ {
		var p string
		switch i % 4 {
		case 0:
			p = fmt.Sprintf("/users/%s%d/repos", g.pick(firstNames), i)
		case 1:
			p = fmt.Sprintf("/files/%s-%s-%d/%s", g.pick(words), g.pick(words), i, g.pick(words))
		case 2:
			p = fmt.Sprintf("/%s%d", g.rnd("abcdefghijklmnopqrstuvwxyz", 8), i)
		default:
			p = fmt.Sprintf("/api/v1/items/%d/%s", i, g.rnd("abcdefghijklmnopqrstuvwxyz", 10))
		}
		tp.Observe(p)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("1,000,000 distinct paths: %d templates, %d nodes, heap in use +%.1f MB", len(tp.Templates()), tp.nodes, float64(heap)/(1<<20))
	if heap > 200<<20 {
		t.Errorf("heap grew by %d MB", heap>>20)
	}
	runtime.KeepAlive(tp)
}

// TestDateVersions: a date that never changes above a sub-tree near the
// root is an API version (Shopify, Twilio), not a parameter; dates that
// vary, or that end the path, or sit deep, stay parameters.
func TestDateVersions(t *testing.T) {
	hexID := func(prefix string, i int) string { return fmt.Sprintf("%s%032x", prefix, i*7919+13) }
	tests := []struct {
		name  string
		paths func(i int) []string
		want  []string
	}{
		{"shopify-like version", func(i int) []string {
			return []string{fmt.Sprintf("/admin/api/2024-01/products/%d.json", 632910392+i),
				fmt.Sprintf("/admin/api/2024-01/orders/%d/fulfillments.json", 450789469+i)}
		}, []string{"/admin/api/2024-01/orders/{parameter}/fulfillments.json", "/admin/api/2024-01/products/{parameter}.json"}},
		{"twilio-like version at the root", func(i int) []string {
			return []string{"/2010-04-01/Accounts/" + hexID("AC", i%20) + "/Messages/" + hexID("SM", i) + ".json"}
		}, []string{"/2010-04-01/Accounts/{parameter}/Messages/{parameter}.json"}},
		{"two versions in use", func(i int) []string {
			v := "2024-01"
			if i >= 100 {
				v = "2024-04"
			}
			return []string{fmt.Sprintf("/admin/api/%s/products/%d", v, 1000+i)}
		}, []string{"/admin/api/2024-01/products/{parameter}", "/admin/api/2024-04/products/{parameter}"}},
		{"dates that vary", func(i int) []string {
			return []string{fmt.Sprintf("/calendar/2024-%02d-%02d/events", 1+i%12, 1+i%28)}
		}, []string{"/calendar/{parameter}/events"}},
		{"one date as a leaf", func(int) []string { return []string{"/reports/2024-01-31"} }, []string{"/reports/{parameter}"}},
		{"one date deep in the path", func(int) []string { return []string{"/a/b/c/2024-01-31/items"} }, []string{"/a/b/c/{parameter}/items"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp := New(Config{})
			for i := range 200 {
				for _, p := range tc.paths(i) {
					tp.Observe(p)
				}
			}
			if got := tp.Templates(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Templates() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParamExt(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{id}.json", ".json"}, {"{product_id}.xml", ".xml"}, {"{parameter}.json", ".json"},
		{"{id}", ""}, {"{}.json", ""}, {"{a}.b.c", ""}, {"{x}.", ""}, {"{x}json", ""}, {"{a/b}.json", ""}, {"id.json", ""},
	}
	for _, tc := range tests {
		if got := paramExt(tc.in); got != tc.want {
			t.Errorf("paramExt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
