package discovery

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery/openapi"
)

// scaleOutTraffic is traffic as the discovery stage observes it: headers
// (one of them a credential), bodies, queries, a covering enforcing stage.
func scaleOutTraffic() []Observation {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var obs []Observation
	for i := range 12 {
		at := t0.Add(time.Duration(i) * time.Second)
		get := Observation{Time: at, Host: "shop.local", Method: "GET", Path: fmt.Sprintf("/products/%d", 100+i),
			Query: fmt.Sprintf("page=%d", i), Status: 200, Latency: time.Millisecond, Auth: "api_key",
			RespType: "application/json", RespBody: fmt.Appendf(nil, `{"id":%d,"name":"socks"}`, i), Protected: true,
			Headers:       []string{"X-Api-Key", "X-Client-Version"},
			HeaderClasses: map[string][]string{"X-Api-Key": {"api_key"}}}
		if i%3 == 0 {
			get.Headers = append(get.Headers, "X-Tenant")
		}
		post := Observation{Time: at, Host: "shop.local", Method: "POST", Path: "/orders", Status: 201, Latency: time.Millisecond,
			ReqType: "application/json", ReqBody: fmt.Appendf(nil, `{"email":"u%d@example.com","qty":%d}`, i, i+1),
			RespType: "application/json", RespBody: []byte(`{"order_id":7}`), Protected: true}
		if i%2 == 1 {
			post.ReqBody = fmt.Appendf(nil, `{"email":"u%d@example.com","qty":%d,"card":"4111 1111 1111 1111"}`, i, i+1)
		}
		plain := Observation{Time: at, Host: "shop.local", Method: "GET", Path: "/health", Status: 200, Latency: time.Millisecond}
		obs = append(obs, get, post, plain)
	}
	return obs
}

// asEvent is what a control plane observes of o: its transaction event
// carries no headers, no bodies and no protected flag.
func asEvent(o Observation) Observation {
	o.Headers, o.HeaderClasses, o.ReqBody, o.RespBody, o.Protected = nil, nil, nil, nil, false
	return o
}

func decodeProfiles(t *testing.T, source string, ups []ProfileUpdate, into map[string]*ScaleOutProfile) {
	t.Helper()
	for _, u := range ups {
		var p ScaleOutProfile
		if err := json.Unmarshal(u.JSON, &p); err != nil {
			t.Fatal(err)
		}
		into["p."+source+"."+u.ID] = &p
	}
}

func fullJSON(t *testing.T, e *Engine) string {
	t.Helper()
	b, err := json.MarshalIndent(e.Full(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScaleOutParity: the traffic of one all-in-one gateway, split over
// two data planes that report to a control plane (events without headers
// or bodies, plus their profiles), gives the control plane's engine the
// very rows of the all-in-one engine: header parameters, schemas,
// sensitive fields, protected, everything.
func TestScaleOutParity(t *testing.T) {
	allInOne, _ := New(Options{SampleRate: 1})
	control, _ := New(Options{})
	planes := []*Engine{}
	for range 2 {
		e, _ := New(Options{SampleRate: 1})
		planes = append(planes, e)
	}
	for i, o := range scaleOutTraffic() {
		a, p, c := o, o, asEvent(o)
		allInOne.Observe(&a)
		planes[i%2].Observe(&p)
		control.Observe(&c)
	}
	profiles := map[string]*ScaleOutProfile{}
	for i, e := range planes {
		ups, gone := e.ScaleOutProfilesSince(nil)
		if len(gone) != 0 {
			t.Fatalf("gone %v with nothing sent", gone)
		}
		decodeProfiles(t, fmt.Sprint("gw", i), ups, profiles)
	}
	if len(profiles) != 4 {
		t.Fatalf("%d profiles, want 2 endpoints x 2 planes (/health has nothing to say)", len(profiles))
	}
	want := fullJSON(t, allInOne)
	if fullJSON(t, control) == want {
		t.Fatal("events alone already gave the all-in-one rows: the test proves nothing")
	}
	var adopted ProfileAdoption
	control.AdoptProfiles(profiles, 1, &adopted)
	got := fullJSON(t, control)
	if want != got {
		t.Fatalf("control plane rows differ from the all-in-one rows\nall in one:\n%s\ncontrol:\n%s", want, got)
	}
	for _, s := range []string{`"X-Tenant"`, `"header.x-api-key"`, `"protected": true`, `"card"`} {
		if !strings.Contains(got, s) {
			t.Errorf("rows lack %s", s)
		}
	}
	// Folding the same profiles again (every flush does) changes nothing,
	// and neither does folding them afresh after the templates changed.
	control.AdoptProfiles(profiles, 1, &adopted)
	control.AdoptProfiles(profiles, 2, &ProfileAdoption{})
	if again := fullJSON(t, control); again != want {
		t.Fatalf("adopting again changed the rows:\n%s", again)
	}
}

// TestScaleOutProfilesSince: an endpoint with header parameters but no
// body has a profile; an unchanged one is not sent again; a new header
// makes it due; an endpoint a merge folded away is reported gone.
func TestScaleOutProfilesSince(t *testing.T) {
	e, _ := New(Options{SampleRate: 1})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Observe(&Observation{Time: t0, Host: "api.local", Method: "GET", Path: "/users/alice", Status: 200, Headers: []string{"X-Tenant"}})
	e.Observe(&Observation{Time: t0, Host: "api.local", Method: "GET", Path: "/ping", Status: 200})
	ups, _ := e.ScaleOutProfilesSince(nil)
	if len(ups) != 1 {
		t.Fatalf("%d profiles, want 1 (/ping has nothing to publish)", len(ups))
	}
	old := ups[0].ID
	sent := map[string]int64{old: ups[0].Version}
	if again, gone := e.ScaleOutProfilesSince(sent); len(again) != 0 || len(gone) != 0 {
		t.Fatalf("nothing changed, yet %d updates, gone %v", len(again), gone)
	}
	e.Observe(&Observation{Time: t0, Host: "api.local", Method: "GET", Path: "/users/alice", Status: 200, Headers: []string{"X-Trace"}})
	again, _ := e.ScaleOutProfilesSince(sent)
	if len(again) != 1 || again[0].Version <= sent[old] {
		t.Fatalf("a new header did not make the profile due: %+v", again)
	}
	sent[old] = again[0].Version
	spec, err := openapi.Parse([]byte(`openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /users/{name}:
    get:
      parameters: [{name: name, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
`), "spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.SetSpecs([]*openapi.Spec{spec}) // /users/alice is now /users/{name}
	ups, gone := e.ScaleOutProfilesSince(sent)
	if len(gone) != 1 || gone[0] != old {
		t.Fatalf("gone %v, want the pre-merge id %s", gone, old)
	}
	var p ScaleOutProfile
	if len(ups) != 1 || json.Unmarshal(ups[0].JSON, &p) != nil || p.Path != "/users/{name}" || p.Headers["X-Trace"] != 1 {
		t.Fatalf("merged endpoint's profile: %+v", p)
	}
}

// TestAdoptProfilesAlerts: the alerts of a control plane's engine see what
// profiles bring: a sensitive class first seen in a body after the
// endpoint's new_endpoint alert is a new_sensitive alert, as it is for the
// engine that saw the body.
func TestAdoptProfilesAlerts(t *testing.T) {
	var alerts []Alert
	control, _ := New(Options{Alerts: func(a Alert) { alerts = append(alerts, a) }})
	plane, _ := New(Options{SampleRate: 1})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	profiles := map[string]*ScaleOutProfile{}
	var adopted ProfileAdoption
	gen := uint64(0)
	send := func(body string) {
		o := Observation{Time: t0, Host: "api.local", Method: "POST", Path: "/orders", Status: 201, ReqType: "application/json",
			ReqBody: []byte(body)}
		c := asEvent(o)
		plane.Observe(&o)
		control.Observe(&c)
		ups, _ := plane.ScaleOutProfilesSince(nil)
		decodeProfiles(t, "gw", ups, profiles)
		gen++
		control.AdoptProfiles(profiles, gen, &adopted)
	}
	send(`{"qty":1}`)
	control.Evaluate(t0.Add(time.Minute))
	send(`{"qty":2,"email":"a@example.com"}`)
	control.Evaluate(t0.Add(2 * time.Minute))
	var kinds []string
	for _, a := range alerts {
		kinds = append(kinds, a.Kind+":"+a.Detail)
	}
	if strings.Join(kinds, " ") != "new_endpoint: new_sensitive:email" {
		t.Fatalf("alerts %v", kinds)
	}
}
