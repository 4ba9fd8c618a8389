package trafficgen

import (
	"regexp"
	"strings"
	"unicode"
)

// classify chooses the kind of values of one path parameter from, in
// order: the API's conventions for that name at that place, the schema's
// enum, format and pattern, the example's shape, the API's conventions for
// the name, the type, the name itself, and the API's default id shape.
// prev is the literal segment before the parameter ("" if none).
func classify(api, prev string, p Param) kind {
	name := p.Name
	if k, ok := convention(api, prev+"/"+name); ok {
		return k
	}
	if len(p.Enum) > 0 {
		return listKind("enum:"+strings.Join(p.Enum, ","), p.Enum, false)
	}
	switch strings.ToLower(p.Format) {
	case "snowflake":
		return snowflakeKind()
	case "uuid":
		return uuidKind()
	case "date":
		return dateKind()
	case "date-time":
		return dateTimeKind()
	case "email":
		return emailKind()
	case "hostname":
		return dnsKind()
	case "ipv4":
		return ipv4Kind()
	case "iso-country-code":
		return listKind("country", countries, true)
	}
	if p.Pattern != "" {
		if k, ok := patternKind(p.Pattern); ok {
			return k
		}
	}
	if k, ok := exampleKind(p.Example, true); ok {
		return k
	}
	if k, ok := convention(api, name); ok {
		return k
	}
	switch p.Type {
	case "integer", "number":
		return intByName(name)
	case "boolean":
		return listKind("bool", []string{"true", "false"}, true)
	}
	if k, ok := exampleKind(p.Example, false); ok {
		if d := defaultID(api, prev, name); strings.HasPrefix(k.id, "num") && strings.HasPrefix(d.id, "num") {
			return d // "12345" stands for a number of the API's usual length
		}
		return k
	}
	if k, ok := nameKind(name); ok {
		return k
	}
	return defaultID(api, prev, name)
}

func intByName(name string) kind {
	n := strings.ToLower(name)
	for _, w := range []string{"index", "level", "page", "answer", "position", "number", "segment", "version"} {
		if strings.Contains(n, w) {
			return smallIntKind(1, 12)
		}
	}
	return numericKind(3, 9)
}

var (
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	prefixedRE = regexp.MustCompile(`^([A-Za-z]+[_-])([A-Za-z0-9]+)$`)
	hexRE      = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	digitsRE   = regexp.MustCompile(`^[0-9]+$`)
	base62RE   = regexp.MustCompile(`^[0-9A-Za-z]+$`)
	tokenRE    = regexp.MustCompile(`^[0-9A-Za-z_=-]+$`)
)

// exampleKind derives a kind from the shape of a spec example. With
// prefixedOnly it answers only for ids with a type prefix (asst_abc123,
// file-abc123, enterprise_123456), which say more than the name.
func exampleKind(ex string, prefixedOnly bool) (kind, bool) {
	if ex == "" {
		return kind{}, false
	}
	if m := prefixedRE.FindStringSubmatch(ex); m != nil && len(m[1]) <= 12 {
		prefix, body := m[1], m[2]
		switch {
		case digitsRE.MatchString(body) && len(body) >= 4:
			k := numericKind(len(body), len(body)+2)
			k.id = "pfx:" + prefix + k.id
			g := k.gen
			k.gen = func(r *randT) string { return prefix + g(r) }
			return k, true
		case len(body) < 12 || strings.Contains(body, "abc") || strings.Contains(body, "123"):
			// a placeholder body: the real ones are 24 characters
			return prefixedKind(prefix, 24, base62Chars), true
		case hexRE.MatchString(body) && strings.ToLower(body) == body:
			return prefixedKind(prefix, len(body), hexChars), true
		default:
			return prefixedKind(prefix, len(body), base62Chars), true
		}
	}
	if prefixedOnly {
		return kind{}, false
	}
	switch {
	case uuidRE.MatchString(ex):
		return uuidKind(), true
	case digitsRE.MatchString(ex):
		n := max(len(ex), 4)
		return numericKind(n, n+5), true
	case hexRE.MatchString(ex) && len(ex) >= 16:
		if strings.ToUpper(ex) == ex {
			return charsKind("HEX", len(ex), hexUpper), true
		}
		return hexKind(len(ex)), true
	case base62RE.MatchString(ex) && len(ex) >= 16 && hasUpperLowerDigit(ex):
		return base62Kind(len(ex)), true
	case tokenRE.MatchString(ex) && len(ex) >= 20:
		return tokenKind(len(ex)), true
	}
	return kind{}, false
}

func hasUpperLowerDigit(s string) bool {
	var u, l, d bool
	for _, c := range s {
		u = u || unicode.IsUpper(c)
		l = l || unicode.IsLower(c)
		d = d || unicode.IsDigit(c)
	}
	return u && l && d
}

// nameKind guesses from the parameter's name alone.
func nameKind(name string) (kind, bool) {
	n := strings.ToLower(name)
	has := func(ws ...string) bool {
		for _, w := range ws {
			if strings.Contains(n, w) {
				return true
			}
		}
		return false
	}
	if has("uuid", "guid") {
		return uuidKind(), true
	}
	if strings.HasSuffix(n, "id") && !has("slug", "name") {
		return kind{}, false // an id: the API's default shape
	}
	switch {
	case has("email"):
		return emailKind(), true
	case has("username", "user_name", "login", "owner", "author", "assignee", "handle", "screen_name"):
		return usernameKind(), true
	case has("org", "enterprise", "workspace", "account_slug", "company"):
		return orgKind(), true
	case has("repo"):
		return repoKind(), true
	case has("project"):
		return projectKind(), true
	case has("team"):
		return teamKind(), true
	case has("label", "tag"):
		return listKind("label", labelNames, false), true
	case has("secret", "variable", "env_var", "envvar"):
		return secretKind(), true
	case has("licen"):
		return listKind("licence", licences, true), true
	case has("plan"):
		return listKind("plan", plans, true), true
	case has("language", "lang"):
		return listKind("language", languages, true), true
	case has("domain", "hostname", "fqdn"):
		return dnsKind(), true
	case has("ipv6"):
		return ipv6Kind(), true
	case n == "ip" || has("ip_address", "_ip"):
		return ipv4Kind(), true
	case has("date", "day", "since", "until"):
		return dateKind(), true
	case has("version", "release"):
		return versionKind(), true
	case has("region"):
		return listKind("region", regions, true), true
	case has("environment") || n == "env":
		return listKind("environment", environments, true), true
	case has("country"):
		return listKind("country", countries, true), true
	case has("sha", "commit", "digest", "hash"):
		return hexKind(40), true
	case has("token"):
		return tokenKind(40), true
	case has("model"):
		return modelKind(), true
	case has("emoji"):
		return emojiKind(), true
	case has("path", "file_name", "filename"):
		return fileNameKind(), true
	case has("package"):
		return listKind("npm", npmPackages, false), true
	case n == "code" || strings.HasSuffix(n, "_code"):
		return base62Kind(8), true
	case n == "slug" || strings.HasSuffix(n, "_slug"):
		return slugKind(), true
	case n == "name" || strings.HasSuffix(n, "_name") || n == "key" || strings.HasSuffix(n, "_key"):
		return slugKind(), true
	case n == "user":
		return usernameKind(), true
	}
	return kind{}, false
}

// defaultID is the shape of a plain "…_id" in each API; prev is the
// literal segment before it (the collection).
func defaultID(api, prev, name string) kind {
	switch api {
	case "box":
		return numericKind(9, 12)
	case "discord":
		return snowflakeKind()
	case "openai":
		stem := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(name), "_id"), "id")
		stem = strings.Trim(stem, "_")
		if stem == "" {
			stem = "obj"
		}
		return prefixedKind(stem+"_", 24, base62Chars)
	case "petstore":
		return numericKind(1, 5)
	case "sentry":
		return numericKind(5, 10)
	case "digitalocean":
		return uuidKind()
	case "netlify":
		return hexKind(24)
	case "spotify":
		return base62Kind(22)
	case "twilio":
		// a SID's two letters name its type: from the name (CallSid) or
		// the collection (Streams/{Sid})
		stem := strings.TrimSuffix(name, "Sid")
		if len(stem) < 2 {
			stem = prev
		}
		if len(stem) < 2 {
			stem = "XX"
		}
		return prefixedKind(strings.ToUpper(stem[:2]), 32, hexChars)
	case "shop":
		return usernameKind()
	}
	return numericKind(3, 9)
}

// convention: what each API's values look like where the spec says
// little (a string "…_id"), by "prev/name" or by name.
func convention(api, key string) (kind, bool) {
	switch api {
	case "sentry":
		return sentryConvention(key)
	case "digitalocean":
		return digitalOceanConvention(key)
	case "netlify":
		return netlifyConvention(key)
	case "spotify":
		return spotifyConvention(key)
	case "openai":
		return openAIConvention(key)
	case "discord":
		return discordConvention(key)
	case "box":
		return boxConvention(key)
	case "petstore":
		switch key {
		case "username":
			return usernameKind(), true
		case "petId", "orderId":
			return numericKind(1, 5), true
		}
	case "shop":
		switch key {
		case "userId":
			return mixKind("shopuser", listKind("customers", shopUsernames(), false), 0.3, usernameKind()), true
		case "products/id":
			return listKind("product", shopProductSlugs(), false), true
		}
	}
	return kind{}, false
}

func sentryConvention(key string) (kind, bool) {
	switch key {
	case "shortids/issue_id":
		return shortIDKind(), true
	case "organization_id_or_slug":
		return mixKind("org|num", orgKind(), 0.92, numericKind(6, 7)), true
	case "project_id_or_slug":
		return mixKind("project|num", projectKind(), 0.95, numericKind(7, 7)), true
	case "team_id_or_slug":
		return mixKind("team|num", teamKind(), 0.95, numericKind(7, 7)), true
	case "monitor_id_or_slug":
		return mixKind("monitor|uuid", funcNameKind(), 0.85, uuidKind()), true
	case "sentry_app_id_or_slug":
		return genKind("sentryapp", 40, false, func(r *randT) string {
			return slugOf(r) + "-" + randString(r, 6, hexChars)
		}), true
	case "version":
		return releaseKind(), true
	case "issue_id":
		return numericKind(9, 10), true
	case "key":
		return listKind("tagkey", sentryTagKeys, false), true
	case "key_id", "hook_id", "trace_id", "profile_id", "event_id":
		return hexKind(32), true
	case "environment":
		return listKind("environment", environments, true), true
	case "filter_id":
		return listKind("sentryfilter", sentryFilters, false), true
	case "image_identifier":
		return uuidKind(), true
	case "uuid":
		return uuidKind(), true
	case "segment_id":
		return smallIntKind(0, 40), true
	}
	return kind{}, false
}

func digitalOceanConvention(key string) (kind, bool) {
	switch key {
	case "droplet_id", "action_id", "domain_record_id", "snapshots/snapshot_id":
		return numericKind(6, 9), true
	case "image_id":
		return mixKind("image", numericKind(8, 9), 0.7, listKind("imageslug", imageSlugs, false)), true
	case "ssh_key_identifier":
		return mixKind("sshkey", numericKind(6, 8), 0.6, fingerprintKind()), true
	case "domain_name":
		return dnsKind(), true
	case "floating_ip", "reserved_ip":
		return ipv4Kind(), true
	case "reserved_ipv6":
		return ipv6Kind(), true
	case "tag_id":
		return genKind("dotag", 60, false, func(r *randT) string {
			if r.IntN(3) == 0 {
				return pick(r, []string{"env", "k8s", "team", "role"}) + ":" + pick(r, append(teamWords[:10:10], environments[:6]...))
			}
			return pick(r, techWords)
		}), true
	case "account_urn":
		return genKind("urn", 30, false, func(r *randT) string { return "do:team:" + uuidOf(r) }), true
	case "namespace_id":
		return genKind("fnns", 200, false, func(r *randT) string { return "fn-" + uuidOf(r) }), true
	case "access_key":
		return prefixedKind("DO00", 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), true
	case "manifest_digest":
		return prefixedKind("sha256:", 64, hexChars), true
	case "repository_tag":
		return mixKind("imgtag", listKind("tags", []string{"latest", "main", "stable", "edge", "dev", "nightly"}, false), 0.4, versionKind()), true
	case "registry_name", "repository_name":
		return mixKind("registry", orgKind(), 0.5, projectKind()), true
	case "database_name":
		return listKind("dbname", dbNames, false), true
	case "username":
		return listKind("dbuser", dbUsers, false), true
	case "component_name", "job_name", "trigger_name":
		return funcNameKind(), true
	case "pool_name", "replica_name", "subject_name", "topic_name", "index_name":
		return genKind("dbobj", 80, false, func(r *randT) string {
			return pick(r, techWords) + pick(r, []string{"-", "_", "."}) + pick(r, []string{"01", "primary", "read", "events", "value", "created", "idx", "nyc3"})
		}), true
	case "instance_sizes/slug":
		return listKind("sizeslug", sizeSlugs, false), true
	case "app_slug":
		return listKind("addon", []string{"mongodb-atlas", "sendgrid", "papertrail", "mailgun", "cloudamqp", "redis-cloud",
			"timescale", "neon", "supabase", "upstash", "scout-apm", "logtail"}, false), true
	case "catalog/id":
		return listKind("genaimodel", []string{"llama3.3-70b-instruct", "llama3-8b-instruct", "mistral-nemo-instruct-2407",
			"deepseek-r1-distill-llama-70b", "openai-gpt-4o", "openai-gpt-4o-mini", "anthropic-claude-3.5-sonnet",
			"anthropic-claude-3-opus", "openai-o3-mini", "qwen2.5-coder-32b", "alibaba-qwen3-32b"}, false), true
	case "version":
		return smallIntKind(1, 20), true
	}
	return kind{}, false
}

func netlifyConvention(key string) (kind, bool) {
	switch key {
	case "site_id":
		return mixKind("site", uuidKind(), 0.85, siteNameKind()), true
	case "account_slug":
		return mixKind("acctslug", orgKind(), 0.6, usernameKind()), true
	case "key", "env/key":
		return envVarKind(), true
	case "addon", "addonName":
		return listKind("addon", []string{"fauna", "onegraph", "neon", "supabase", "planetscale", "algolia", "contentful", "sanity", "cloudinary", "auth0"}, false), true
	case "snippet_id":
		return smallIntKind(0, 20), true
	case "instance_id", "snapshot_id", "branch_id":
		return uuidKind(), true
	case "package":
		return listKind("npm", npmPackages, false), true
	case "functions/name":
		return funcNameKind(), true
	case "migrations/name":
		return genKind("migration", 100, false, func(r *randT) string {
			return dayZero.AddDate(0, 0, r.IntN(700)).Format("20060102") + digits(r, 6, 6) + "_" + pick(r, funcWords) + "_" + pick(r, funcObjects)
		}), true
	case "path", "file_path":
		return fileNameKind(), true
	}
	return kind{}, false
}

func spotifyConvention(key string) (kind, bool) {
	switch key {
	case "user_id":
		return genKind("spotifyuser", 800, true, func(r *randT) string {
			switch x := r.IntN(100); {
			case x < 60:
				return strings.ToLower(usernameOf(r))
			case x < 85:
				return randString(r, 28, base36Chars)
			default:
				return digits(r, 10, 10)
			}
		}), true
	case "category_id":
		return mixKind("category", listKind("categories", spotifyCategories, false), 0.75, base62Kind(22)), true
	}
	return kind{}, false
}

func openAIConvention(key string) (kind, bool) {
	switch key {
	case "model":
		return modelKind(), true
	case "fine_tuned_model_checkpoint":
		return checkpointKind(), true
	case "fine_tuning_job_id":
		return prefixedKind("ftjob-", 24, base62Chars), true
	case "file_id":
		return prefixedKind("file-", 24, base62Chars), true
	case "user_id":
		return prefixedKind("user-", 24, base62Chars), true
	case "invite_id":
		return prefixedKind("invite-", 24, base62Chars), true
	case "assistant_id":
		return prefixedKind("asst_", 24, base62Chars), true
	case "message_id":
		return prefixedKind("msg_", 24, base62Chars), true
	case "completion_id":
		return prefixedKind("chatcmpl-", 29, base62Chars), true
	case "container_id":
		return prefixedKind("cntr_", 48, hexChars), true
	case "eval_id":
		return prefixedKind("eval_", 32, hexChars), true
	case "output_item_id":
		return prefixedKind("outputitem_", 32, hexChars), true
	case "call_id":
		return prefixedKind("rtc_", 32, hexChars), true
	case "project_id":
		return prefixedKind("proj_", 24, base62Chars), true
	case "thread_id":
		return prefixedKind("thread_", 24, base62Chars), true
	case "run_id":
		return prefixedKind("run_", 24, base62Chars), true
	case "step_id":
		return prefixedKind("step_", 24, base62Chars), true
	case "vector_store_id":
		return prefixedKind("vs_", 24, base62Chars), true
	case "batch_id":
		return prefixedKind("batch_", 24, base62Chars), true
	case "response_id":
		return prefixedKind("resp_", 48, hexChars), true
	case "conversation_id":
		return prefixedKind("conv_", 48, hexChars), true
	case "service_account_id":
		return prefixedKind("svc_acct_", 24, base62Chars), true
	case "certificate_id":
		return prefixedKind("cert_", 24, base62Chars), true
	case "api_key_id", "key_id":
		return prefixedKind("key_", 16, base62Chars), true
	case "consent_id":
		return prefixedKind("cons_", 24, base62Chars), true
	case "rate_limit_id":
		return genKind("ratelimit", 30, false, func(r *randT) string { return "rl-" + pick(r, openAIModels) }), true
	case "version":
		return smallIntKind(1, 12), true
	}
	return kind{}, false
}

func discordConvention(key string) (kind, bool) {
	switch key {
	case "webhook_token":
		return tokenKind(68), true
	case "interaction_token":
		return tokenKind(160), true
	case "invites/code":
		return mixKind("invite", base62Kind(8), 0.8, orgKind()), true
	case "templates/code":
		return base62Kind(12), true
	case "emoji_name":
		return emojiKind(), true
	case "instance_id":
		return genKind("activity", 500, false, func(r *randT) string {
			return "i-" + snowflakeKind().gen(r) + "-gc-" + snowflakeKind().gen(r) + "-" + snowflakeKind().gen(r)
		}), true
	case "answer_id":
		return smallIntKind(1, 10), true
	}
	return kind{}, false
}

func boxConvention(key string) (kind, bool) {
	switch key {
	case "template_key", "taxonomy_key", "field_key":
		return camelKeyKind(), true
	case "upload_session_id":
		return charsKind("HEX", 32, hexUpper), true
	case "sign_templates/template_id", "metadata_templates/template_id":
		return uuidKind(), true
	case "folders/folder_id":
		// the root folder is "0", and popular
		return mixKind("folder", listKind("root", []string{"0"}, false), 0.15, numericKind(9, 12)), true
	}
	return kind{}, false
}

// shopProductSlugs are the demo shop's products as slugs.
func shopProductSlugs() []string {
	var out []string
	for _, p := range shopCatalogNames() {
		s := strings.ToLower(p)
		s = strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				return r
			}
			return '-'
		}, s)
		out = append(out, strings.Trim(s, "-"))
	}
	return out
}
