package shop

import (
	"html/template"
	"net/http"
)

const indexHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Vigil Demo Shop</title>
<link rel="stylesheet" href="/static/style.css">
<script defer src="/static/app.js"></script>
</head>
<body>
<header><h1>Vigil Demo Shop</h1><nav><a href="/">Home</a> <a href="#" id="login">Sign in</a> <a href="#" id="cart">Cart</a></nav></header>
<main>
<h2>Featured</h2>
<ul class="products">
{{range .}}<li data-id="{{.ID}}"><a href="/products/{{.ID}}">{{.Name}}</a> <span class="cat">{{.Category}}</span> <span class="price">${{printf "%.2f" .Price}}</span></li>
{{end}}</ul>
<div id="catalog"></div>
</main>
<footer>Demo data only. Card numbers are test numbers.</footer>
</body>
</html>
`

const appJS = `"use strict";
// Vigil demo shop front-end: renders the catalog and drives the cart.
async function api(method, path, body, token) {
  const headers = {"Accept": "application/json"};
  if (body) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  const res = await fetch(path, {method, headers, body: body ? JSON.stringify(body) : undefined});
  if (!res.ok) throw new Error(method + " " + path + ": " + res.status);
  return res.json();
}
async function renderCatalog() {
  const page = await api("GET", "/products?limit=30");
  const el = document.getElementById("catalog");
  el.textContent = page.total + " products";
}
document.addEventListener("DOMContentLoaded", () => { renderCatalog().catch(console.error); });
`

const styleCSS = `body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#1d3557;color:#fff;padding:1rem 2rem;display:flex;justify-content:space-between}
header a{color:#fff;margin-left:1rem}
main{padding:1rem 2rem}
.products li{margin:.3rem 0}
.cat{color:#888;font-size:.85em}
.price{font-weight:bold}
footer{padding:1rem 2rem;color:#888}
`

func (s *Shop) frontendHandler() http.Handler {
	mux := http.NewServeMux()
	tmpl := template.Must(template.New("index").Parse(indexHTML))
	mux.HandleFunc("GET /{$}", s.index(tmpl))
	mux.HandleFunc("GET /static/app.js", static("text/javascript; charset=utf-8", appJS))
	mux.HandleFunc("GET /static/style.css", static("text/css; charset=utf-8", styleCSS))
	mux.HandleFunc("GET /healthz", healthz)
	return jsonErrors(mux)
}

// index serves the home page with the first products of the catalog.
func (s *Shop) index(tmpl *template.Template) http.HandlerFunc {
	featured := make([]productView, 0, 8)
	for _, p := range s.products[:8] {
		featured = append(featured, viewOf(p))
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		if err := tmpl.Execute(w, featured); err != nil {
			s.log.Debug("shop: index", "err", err)
		}
	}
}

func static(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write([]byte(body))
	}
}
