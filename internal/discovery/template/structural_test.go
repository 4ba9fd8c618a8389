package template

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// route is a true template with its popularity; {u} {s} {w} {n} {l} {k}
// {x} are filled from value pools (usernames, slugs, plain words,
// numbers, label names, secret names, licence keys).
type route struct {
	method, tmpl string
	weight       int
}

var pools = map[string][]string{
	"u": {"jane.doe", "mkowalski", "dev_ops42", "octocat", "torvalds", "a.smith", "li_wei", "sam99", "gaearon", "r.ortiz",
		"kim-lee", "pjhyett", "dhh", "mojombo", "ana.silva", "zed_shaw", "bob", "alice"},
	"s": {"acme-corp", "web-2024", "frontend", "data-platform", "mobile-app", "core", "infra-42", "payments", "search-api",
		"team-rocket", "growth", "ml-ops"},
	"r": {"linux", "react", "hello-world", "dotfiles", "vigil", "kubernetes", "rails", "spoon-knife", "go-kit", "blog"},
	"n": {"1", "2", "3", "17", "42", "108", "311", "999", "1024", "2048"},
	"l": {"bug", "enhancement", "help%20wanted", "area%2Fnetworking", "good%20first%20issue", "kind%2Fbug", "wontfix",
		"priority%3Ahigh"},
	"k": {"DEPLOY_KEY", "NPM_TOKEN", "AWS_SECRET", "SLACK_WEBHOOK", "DOCKER_PASSWORD", "GH_PAT"},
	"x": {"mit", "apache-2.0", "gpl-3.0", "bsd-3-clause", "mpl-2.0", "lgpl-2.1", "unlicense"},
	"g": {"C%23", "Objective-C", "Go", "Python", "Node", "Rust", "Java", "Ruby"},
	"c": {"US", "GB", "DE", "FR", "ES", "IT", "JP", "CA", "AU", "BR"},
}

// requests draws n requests over routes (weighted, values with a skewed
// popularity) and returns (method, path, true template) triples.
func requests(seed uint64, routes []route, n int) [][3]string {
	rng := rand.New(rand.NewPCG(seed, seed*7+1))
	total := 0
	for _, r := range routes {
		total += r.weight
	}
	var out [][3]string
	for range n {
		x := rng.IntN(total)
		var r route
		for _, r = range routes {
			if x < r.weight {
				break
			}
			x -= r.weight
		}
		segs := strings.Split(r.tmpl, "/")
		truth := make([]string, len(segs))
		for i, s := range segs {
			truth[i] = s
			if len(s) >= 3 && s[0] == '{' && s[2] == '}' {
				pool := pools[s[1:2]]
				// skewed: the first values are the popular ones
				j := min(int(float64(len(pool))*rng.Float64()*rng.Float64()), len(pool)-1)
				segs[i] = pool[j] + s[3:]
				truth[i] = Param + s[3:]
			}
		}
		out = append(out, [3]string{r.method, strings.Join(segs, "/"), strings.Join(truth, "/")})
	}
	// every route at least once, with its first value
	for _, r := range routes {
		p, tr := r.tmpl, r.tmpl
		for k, pool := range pools {
			p = strings.ReplaceAll(p, "{"+k+"}", pool[0])
			tr = strings.ReplaceAll(tr, "{"+k+"}", Param)
		}
		out = append(out, [3]string{r.method, p, tr})
	}
	return out
}

func TestStructuralEvidence(t *testing.T) {
	tests := []struct {
		name   string
		routes []route
		n      int
	}{
		{"usernames in a small log", []route{
			{"GET", "/users/{u}", 5}, {"GET", "/users/{u}/repos", 3}, {"GET", "/users", 2}, {"GET", "/status", 1},
		}, 60},
		{"resources with numeric ids stay vocabulary", []route{
			{"GET", "/api/v1/users", 3}, {"GET", "/api/v1/users/{n}", 5}, {"GET", "/api/v1/orders", 3},
			{"GET", "/api/v1/orders/{n}", 5}, {"GET", "/api/v1/products/{n}", 4}, {"GET", "/api/v1/invoices/{n}", 2},
			{"DELETE", "/api/v1/orders/{n}", 1}, {"GET", "/api/v1/health", 1},
		}, 400},
		{"a literal beside a parameter", []route{
			{"GET", "/cart/{n}", 5}, {"GET", "/cart/clear/{u}", 3}, {"GET", "/users/{u}", 3}, {"GET", "/users/me", 3},
			{"PUT", "/users/{u}", 1}, {"DELETE", "/users/{u}", 1}, {"POST", "/users/invite", 1},
		}, 300},
		{"adjacent parameters found together", []route{
			{"GET", "/repos/{u}/{r}", 5}, {"GET", "/repos/{u}/{r}/issues", 4}, {"GET", "/repos/{u}/{r}/issues/{n}", 4},
			{"GET", "/repos/{u}/{r}/pulls", 2}, {"GET", "/repos/{u}/{r}/labels/{l}", 2},
			{"PUT", "/repos/{u}/{r}/actions/secrets/{k}", 1}, {"GET", "/repos/{u}/{r}/actions/runs/{n}", 1},
			{"GET", "/repos/{u}/{r}/actions/workflows", 1}, {"GET", "/search/issues", 2}, {"GET", "/search/code", 1},
			{"GET", "/search/users", 1}, {"GET", "/search/repositories", 2}, {"GET", "/search/commits", 1},
		}, 600},
		{"licences, languages, labels", []route{
			{"GET", "/licenses/{x}", 3}, {"GET", "/licenses", 1}, {"GET", "/gitignore/templates/{g}", 2},
			{"GET", "/gitignore/templates", 1}, {"GET", "/orgs/{s}/labels/{l}", 2}, {"GET", "/orgs/{s}", 2},
		}, 200},
		{"player actions stay literal", []route{
			{"PUT", "/v1/me/player/play", 3}, {"PUT", "/v1/me/player/pause", 3}, {"POST", "/v1/me/player/next", 2},
			{"POST", "/v1/me/player/previous", 1}, {"PUT", "/v1/me/player/seek", 1}, {"PUT", "/v1/me/player/volume", 1},
			{"PUT", "/v1/me/player/shuffle", 1}, {"PUT", "/v1/me/player/repeat", 1}, {"POST", "/v1/me/player/queue", 1},
			{"GET", "/v1/me/player/devices", 2}, {"GET", "/v1/me/player", 2}, {"GET", "/v1/users/{u}/playlists", 3},
		}, 400},
		{"collections with shared sub-collections", []route{
			{"GET", "/v2/droplets/{n}/actions", 2}, {"GET", "/v2/volumes/{n}/actions", 2}, {"GET", "/v2/images/{n}/actions", 2},
			{"POST", "/v2/droplets/actions", 1}, {"POST", "/v2/volumes/actions", 1}, {"GET", "/v2/droplets", 3},
			{"GET", "/v2/domains/{s}/records", 2}, {"GET", "/v2/domains/{s}/records/{n}", 2},
		}, 400},
		{"values and vocabulary at one position", []route{
			{"GET", "/api/v1/sites", 4}, {"GET", "/api/v1/sites/{n}", 4}, {"GET", "/api/v1/deploys/{n}", 3},
			{"GET", "/api/v1/hooks/{n}", 2}, {"GET", "/api/v1/{s}/members", 3}, {"DELETE", "/api/v1/{s}/members/{u}", 1},
			{"GET", "/api/v1/{s}/env", 2}, {"GET", "/api/v1/{s}/audit", 1},
		}, 500},
		{"values with a data extension, vocabulary in PascalCase", []route{
			{"GET", "/2010-04-01/Accounts/{n}/AvailablePhoneNumbers/{c}.json", 3},
			{"GET", "/2010-04-01/Accounts/{n}/AvailablePhoneNumbers.json", 1},
			{"GET", "/2010-04-01/Accounts/{n}/IncomingPhoneNumbers.json", 2},
			{"GET", "/2010-04-01/Accounts/{n}/SIP/IpAccessControlLists/{n}.json", 2},
			{"GET", "/2010-04-01/Accounts/{n}/SIP/CredentialLists/{n}.json", 2},
			{"GET", "/2010-04-01/Accounts/{n}/SMS/ShortCodes/{n}.json", 1},
		}, 400},
		{"snake_case metric names stay literal", []route{
			{"GET", "/v2/metrics/lb/droplets_queue_size", 1}, {"GET", "/v2/metrics/lb/droplets_http_responses", 1},
			{"GET", "/v2/metrics/lb/frontend_cpu_utilization", 1}, {"GET", "/v2/metrics/lb/frontend_connections_limit", 1},
			{"GET", "/v2/metrics/lb/frontend_tls_connections_current", 1}, {"GET", "/v2/metrics/lb/droplets_health_checks", 1},
			{"GET", "/v2/metrics/lb/frontend_network_throughput_http", 1}, {"GET", "/v2/metrics/lb/droplets_session_duration_avg", 1},
			{"GET", "/v2/metrics/lb/frontend_http_requests_per_second", 1}, {"GET", "/v2/metrics/lb/droplets_connections_total", 1},
			{"GET", "/v2/metrics/lb/frontend_firewall_dropped_bytes", 1}, {"GET", "/v2/metrics/lb/frontend_nlb_udp_network_throughput", 1},
			{"GET", "/v2/metrics/lb/droplets_downtime_seconds", 1},
		}, 30},
		{"mirrors two levels deep", []route{
			{"GET", "/mirrors/{s}/{r}/status", 5}, {"GET", "/mirrors/{s}/{r}", 1}, {"GET", "/mirrors", 1},
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, seed := range []uint64{1, 2, 3} {
				reqs := requests(seed, tt.routes, tt.n)
				tp := New(Config{})
				for _, r := range reqs {
					tp.ObserveRequest(r[0], r[1])
				}
				tp.Settle()
				bad := map[string]string{}
				for _, r := range reqs {
					if got := tp.Template(r[1]); got != r[2] {
						bad[r[1]] = fmt.Sprintf("%s, want %s", got, r[2])
					}
				}
				for p, msg := range bad {
					t.Errorf("seed %d: %s -> %s", seed, p, msg)
				}
			}
		})
	}
}

func TestValueMarked(t *testing.T) {
	for _, tt := range []struct {
		seg  string
		want bool
	}{
		{"users", false}, {"payment_intents", false}, {"IncomingPhoneNumbers", false}, {"oauth2", false},
		{"ipv6", false}, {"sha256", false}, {"v1", false}, {"top_100", true}, {"rate-limit", false},
		{"jane.doe", true}, {"dev_ops42", true}, {"web-2024", true}, {"help%20wanted", true}, {"DEPLOY_KEY", true},
		{"Objective-C", true}, {"apache-2.0", true}, {"mkowalski", false}, {"Go", false},
		// a short word with a number is taken for vocabulary (oauth2, sha256)
		{"user42", false},
	} {
		if got := valueMarked(tt.seg); got != tt.want {
			t.Errorf("valueMarked(%q) = %v, want %v", tt.seg, got, tt.want)
		}
	}
}

func TestPlural(t *testing.T) {
	for _, tt := range []struct {
		seg  string
		want bool
	}{
		{"users", true}, {"licenses", true}, {"IncomingPhoneNumbers", true}, {"categories", true}, {"secrets", true},
		{"status", false}, {"access", false}, {"analysis", false}, {"user", false}, {"v1", false}, {"{id}", false},
		{"api", false}, {"search", false}, {"me", false},
	} {
		if got := plural(tt.seg); got != tt.want {
			t.Errorf("plural(%q) = %v, want %v", tt.seg, got, tt.want)
		}
	}
}

func TestValueKind(t *testing.T) {
	for _, tt := range []struct{ v, want string }{
		{"42", KindInteger}, {"550e8400-e29b-41d4-a716-446655440000", KindUUID}, {"d41d8cd98f00b204e9800998ecf8427e", KindHex},
		{"2024-01-31", KindDate}, {"bob@example.com", KindEmail}, {"usr_8Hk2", KindID}, {"jane.doe", KindUsername},
		{"dev_ops42", KindUsername}, {"acme-corp", KindSlug}, {"frontend", KindSlug}, {"help%20wanted", KindName},
		{"DEPLOY_KEY", KindName}, {"Objective-C", KindName},
	} {
		if got := ValueKind(tt.v); got != tt.want {
			t.Errorf("ValueKind(%q) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := ParamKind([]string{"mit", "gpl-3.0"}, 400); got != KindEnum {
		t.Errorf("two values over 400 hits: %q, want enum", got)
	}
	if got := ParamKind([]string{"jane.doe", "sam99", "frontend"}, 5); got != KindUsername {
		t.Errorf("mostly usernames: %q", got)
	}
}
