package discovery

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// This file is the scale-out side of the inventory: what a data plane
// reporting over the bus publishes about each endpoint beyond its events,
// and how a control-plane replica folds that into the engine it builds
// from events, so that its engine answers like the one of `vigil up`.

// ScaleOutProfile is a Profile plus what else a data plane knows of an
// endpoint that its transaction events do not say: the request header
// parameters its sampled requests carried and whether an enforcing stage
// covered the endpoint. Its JSON is a Profile's with two more fields, so
// either side may be older than the other.
type ScaleOutProfile struct {
	Profile
	// Headers counts the sampled requests that carried each header
	// parameter (names as the engine records them).
	Headers map[string]int64 `json:"headers,omitempty"`
	// Protected: an enforcing (not passive) stage covered a request.
	Protected bool `json:"protected,omitempty"`
}

// scaleOutVersion grows with everything a ScaleOutProfile carries: bodies
// profiled, header parameters counted, sensitive fields found, and the
// protected flag. 0 means there is nothing to publish.
func (en *entry) scaleOutVersion() int64 {
	v := en.profVer
	for _, n := range en.headers {
		v += n
	}
	for _, fields := range en.classes {
		v += int64(len(fields))
	}
	if en.protected {
		v++
	}
	return v
}

// ScaleOutProfilesSince returns the profiles (as ScaleOutProfile JSON) of
// the endpoints whose version grew past sent[id] (nil sent: every
// endpoint with something to publish), and the ids of sent that the
// inventory no longer holds (a template merge folded them into another
// endpoint, whose profile now carries them): their published profiles
// should be withdrawn, or a control plane would count them twice. sent is
// only read; the encoding happens under the engine's read lock.
func (e *Engine) ScaleOutProfilesSince(sent map[string]int64) (updates []ProfileUpdate, gone []string) {
	e.settle()
	e.mu.RLock()
	defer e.mu.RUnlock()
	live := make(map[string]bool, len(e.entries))
	for _, en := range e.entries {
		id := EndpointID(en.key.host, en.key.method, en.key.path)
		live[id] = true
		v := en.scaleOutVersion()
		if v == 0 || sent[id] >= v {
			continue
		}
		p := ScaleOutProfile{Profile: en.profile(), Headers: en.headers, Protected: en.protected}
		p.Version = v
		b, err := json.Marshal(p)
		if err != nil {
			continue // a schema that cannot encode is skipped, not fatal
		}
		updates = append(updates, ProfileUpdate{ID: id, Version: v, JSON: b})
	}
	for id := range sent {
		if !live[id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	return updates, gone
}

// ProfileAdoption is what AdoptProfiles folded into one engine, so that
// profiles already folded are not folded again. The zero value is ready;
// it is not safe for concurrent use.
type ProfileAdoption struct {
	profGen, tmplGen uint64
	entries          int
	stamps           map[string]string // endpoint id -> key@version of the profiles folded in
}

// Stamp names the profiles folded into endpoint id ("" when none): it
// changes whenever they do.
func (a *ProfileAdoption) Stamp(id string) string { return a.stamps[id] }

// AdoptProfiles folds the latest profile of every data plane (profiles by
// bus key; gen changes whenever they do) into the endpoints this engine
// built from events. Each profile's sample path is templated by this
// engine, which may merge more or less than the data plane did, and the
// profiles that land on one endpoint become its request and response
// schemas, GraphQL operations and header parameters (replacing what was
// adopted before: a profile is a data plane's whole state, never a delta)
// and add their sensitive fields and protected flag. Endpoints no event
// has created yet are left for a later call. After it, the engine's views,
// comparison, OpenAPI document and alerts see the profiles as the engine
// of an all-in-one gateway sees its own traffic.
func (e *Engine) AdoptProfiles(profiles map[string]*ScaleOutProfile, gen uint64, a *ProfileAdoption) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.maybeRekeyLocked(true)
	if a.stamps != nil && a.profGen == gen && a.tmplGen == e.gen && a.entries == len(e.entries) {
		return // nothing changed on either side
	}
	if a.stamps == nil || a.tmplGen != e.gen {
		// Templates changed: entries may have merged (and so added up
		// what was adopted into each), so every group is folded afresh.
		a.stamps = map[string]string{}
	}
	a.profGen, a.tmplGen, a.entries = gen, e.gen, len(e.entries)
	groups := map[key][]string{}
	for bk, p := range profiles {
		k := key{host: normalizeHost(p.Host), method: strings.ToUpper(p.Method), path: e.tmpl.Template(p.Sample)}
		groups[k] = append(groups[k], bk)
	}
	for k, bks := range groups {
		en := e.entries[k]
		if en == nil {
			continue
		}
		slices.Sort(bks)
		var stamp strings.Builder
		group := make([]*ScaleOutProfile, len(bks))
		for i, bk := range bks {
			group[i] = profiles[bk]
			stamp.WriteString(bk + "@" + strconv.FormatInt(group[i].Version, 10) + ";")
		}
		id := EndpointID(k.host, k.method, k.path)
		if a.stamps[id] == stamp.String() {
			continue
		}
		en.adopt(group)
		a.stamps[id] = stamp.String()
	}
}

// adopt makes group (the latest profile of each data plane) the source of
// what events do not carry.
func (en *entry) adopt(group []*ScaleOutProfile) {
	agg := newEntry(en.key, en.first)
	for _, p := range group {
		o := newEntry(en.key, en.first)
		if p.Request != nil {
			o.reqSchema = copySchema(p.Request)
		}
		for st, s := range p.Responses {
			o.respSchema[st] = copySchema(s)
		}
		for c, fields := range p.Classes {
			o.classes[c] = map[string]bool{}
			for _, f := range fields {
				o.classes[c][f] = true
			}
		}
		adoptOps(o, p.Ops, p.OpSchemas)
		maps.Copy(o.headers, p.Headers)
		o.protected = p.Protected
		agg.merge(o)
	}
	en.reqSchema, en.respSchema, en.ops = agg.reqSchema, agg.respSchema, agg.ops
	en.headers = topCounts(agg.headers, maxHeaderNames)
	for c, fields := range agg.classes {
		for f := range fields {
			en.addClass(c, f)
		}
	}
	en.protected = en.protected || agg.protected
}

// topCounts keeps the n most frequent keys of m (ties by name): data planes
// each keep up to n header names, and together they could hold more.
func topCounts(m map[string]int64, n int) map[string]int64 {
	if len(m) <= n {
		return m
	}
	names := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, k := range names[n:] {
		delete(m, k)
	}
	return m
}

// Webhook delivers alerts to a URL exactly as a Service delivers its own
// (a queue of 256, a 5 s timeout, 3 tries), for a caller that decides
// itself which alerts are due: a control-plane replica sends only those
// that were new in the store it shares with the other replicas.
type Webhook struct{ s *Service }

// StartWebhook starts delivering to url until ctx ends; nil when url is
// empty.
func StartWebhook(ctx context.Context, url string, log *slog.Logger) *Webhook {
	if url == "" {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{log: log, hookURL: url, hook: make(chan Alert, 256)}
	go s.webhookLoop(ctx)
	return &Webhook{s: s}
}

// Send queues a for delivery; it never blocks (a full queue counts a
// failure).
func (w *Webhook) Send(a Alert) {
	select {
	case w.s.hook <- a:
	default:
		w.s.hookErr.Add(1)
	}
}

// Failures counts alerts the webhook could not take.
func (w *Webhook) Failures() uint64 { return w.s.WebhookFailures() }
