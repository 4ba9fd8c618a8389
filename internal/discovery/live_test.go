package discovery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// wordTraffic is traffic whose ids are words: usernames, slugs, labels,
// with pre-flights and 404 probes mixed in.
func wordTraffic(n int) []Observation {
	rng := rand.New(rand.NewPCG(7, 9))
	users := []string{"jane.doe", "mkowalski", "dev_ops42", "octocat", "a.smith", "li_wei", "sam99", "r.ortiz", "zed_shaw", "ana.silva", "kim-lee", "bob"}
	repos := []string{"linux", "react", "hello-world", "dotfiles", "web-2024", "go-kit"}
	labels := []string{"bug", "help%20wanted", "area%2Fnetworking", "kind%2Fbug", "good%20first%20issue"}
	pick := func(p []string) string { return p[min(int(float64(len(p))*rng.Float64()*rng.Float64()), len(p)-1)] }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []Observation
	for i := range n {
		o := Observation{Time: t0.Add(time.Duration(i) * time.Second), Host: "api.example", Method: "GET", Status: 200}
		switch rng.IntN(8) {
		case 0:
			o.Path = "/users/" + pick(users)
		case 1:
			o.Path = "/users/" + pick(users) + "/repos"
		case 2:
			o.Path = "/repos/" + pick(users) + "/" + pick(repos)
		case 3:
			o.Path = fmt.Sprintf("/repos/%s/%s/issues/%d", pick(users), pick(repos), 1+rng.IntN(500))
		case 4:
			o.Path = "/repos/" + pick(users) + "/" + pick(repos) + "/labels/" + pick(labels)
			if rng.IntN(4) == 0 {
				o.Method = "DELETE"
			}
		case 5:
			o.Method, o.Path, o.Status = "OPTIONS", "/users/"+pick(users), 204 // pre-flight
		case 6:
			o.Path, o.Status = []string{"/wp-login.php", "/.env", "/.git/config", "/admin/config.php", "/phpmyadmin/"}[rng.IntN(5)], 404
		default:
			o.Path = "/search/" + []string{"issues", "code", "users"}[rng.IntN(3)]
		}
		out = append(out, o)
	}
	return out
}

func inventory(eps []Endpoint) []string {
	var out []string
	for _, ep := range eps {
		out = append(out, ep.Kind+" "+ep.Method+" "+ep.Path)
	}
	slices.Sort(out)
	return out
}

// Live traffic (Submit, drained by Run) and logs (Observe, as vigil
// discover does) give the same inventory for the same traffic.
func TestLiveAndOfflineAgree(t *testing.T) {
	traffic := wordTraffic(3000)
	off, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range traffic {
		o := traffic[i]
		off.Observe(&o)
	}
	live, err := New(Options{QueueSize: len(traffic)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { live.Run(ctx, 5*time.Millisecond); close(done) }()
	for _, o := range traffic {
		if !live.Submit(o) {
			t.Fatal("queue full")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); live.ObservedCount() < uint64(len(traffic)); {
		if time.Now().After(deadline) {
			t.Fatalf("live engine observed %d of %d", live.ObservedCount(), len(traffic))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	a, b := inventory(off.Endpoints()), inventory(live.Endpoints())
	if !slices.Equal(a, b) {
		t.Fatalf("offline and live differ:\noffline %v\nlive    %v", a, b)
	}
	want := []string{
		"rest DELETE /repos/{parameter}/{parameter}/labels/{parameter}",
		"rest GET /repos/{parameter}/{parameter}",
		"rest GET /repos/{parameter}/{parameter}/issues/{parameter}",
		"rest GET /repos/{parameter}/{parameter}/labels/{parameter}",
		"rest GET /search/code",
		"rest GET /search/issues",
		"rest GET /search/users",
		"rest GET /users/{parameter}",
		"rest GET /users/{parameter}/repos",
	}
	var api []string
	for _, s := range a {
		if s[:5] == "rest " {
			api = append(api, s)
		}
	}
	if !slices.Equal(api, want) {
		t.Errorf("API endpoints:\n got %v\nwant %v\nall %v", api, want, a)
	}
	if off.Preflights() == 0 {
		t.Error("pre-flights not counted")
	}
	for _, s := range a {
		if s[:5] != "rest " && s[:10] != "not_found " {
			t.Errorf("unexpected kind: %s", s)
		}
	}
	// Path parameters carry a kind and examples.
	for _, ep := range off.Endpoints() {
		if ep.Method == "GET" && ep.Path == "/users/{parameter}" {
			if len(ep.PathParams) != 1 || ep.PathParams[0].Kind != "username" || len(ep.PathParams[0].Examples) == 0 {
				t.Errorf("path params of %s: %+v", ep.Path, ep.PathParams)
			}
		}
	}
}

// ParseGraphQL reports the variables an operation declares.
func TestParseGraphQLVariables(t *testing.T) {
	op := ParseGraphQL(`query Order($id: ID!, $withItems: Boolean = false) { order(id: $id) { id } }`, "Order")
	if !slices.Equal(op.Variables, []string{"id", "withItems"}) || op.Name != "Order" {
		t.Fatalf("op %+v", op)
	}
}
