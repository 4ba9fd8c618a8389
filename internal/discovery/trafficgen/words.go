package trafficgen

// Word lists the value generators combine. They are constants in spirit:
// read-only, never modified.

var firstNames = []string{
	"jane", "john", "maria", "marek", "anna", "li", "wei", "ahmed", "fatima", "olga", "ivan", "sofia",
	"lucas", "emma", "noah", "mia", "liam", "ava", "ethan", "chloe", "mateo", "lea", "hugo", "ines",
	"yuki", "kenji", "aiko", "priya", "arjun", "ravi", "nina", "tomas", "eva", "pablo", "lucia",
	"david", "sarah", "michael", "laura", "daniel", "julia", "kevin", "lisa", "chris", "nora",
	"omar", "leila", "sven", "ingrid", "lars", "freya", "piotr", "kasia", "jakub", "zofia", "mehmet",
	"elif", "can", "deniz", "tariq", "amina", "kwame", "ama", "chen", "mei", "jun", "hana", "min",
	"seo", "raj", "dev", "sam", "alex", "max", "ben", "tom", "ada", "grace", "linus", "guido",
	"rob", "ken", "dennis", "bjarne", "brian", "margaret", "barbara", "frances", "radia", "hedy",
	"alan", "tim", "vint", "edsger", "donald", "niklaus", "leslie", "robin", "erin", "kai", "jo",
}

var lastNames = []string{
	"doe", "smith", "kowalski", "nowak", "muller", "schmidt", "garcia", "martinez", "rossi", "bianchi",
	"dubois", "martin", "silva", "santos", "tanaka", "suzuki", "sato", "kim", "lee", "park", "wang",
	"zhang", "liu", "chen", "singh", "patel", "kumar", "sharma", "ivanov", "petrov", "novak",
	"horvat", "nielsen", "hansen", "jensen", "larsen", "berg", "lindqvist", "johansson", "virtanen",
	"korhonen", "oconnor", "murphy", "kelly", "walsh", "brown", "wilson", "taylor", "clark", "lewis",
	"walker", "hall", "young", "king", "wright", "scott", "green", "baker", "adams", "nelson",
	"hill", "campbell", "mitchell", "roberts", "carter", "phillips", "evans", "turner", "torres",
	"parker", "collins", "edwards", "stewart", "morris", "nguyen", "tran", "pham", "hoang", "yilmaz",
	"kaya", "demir", "sahin", "cohen", "levi", "mizrahi", "haddad", "khoury", "okafor", "mensah",
	"abara", "lovelace", "hopper", "torvalds", "pike", "ritchie", "thompson", "kernighan", "knuth",
	"dijkstra", "lamport", "liskov", "wirth", "berners", "cerf", "hamilton", "allen", "perlman",
}

var adjectives = []string{
	"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "kind", "lively", "nice",
	"proud", "silly", "witty", "zealous", "amazing", "bold", "clever", "cosmic", "dreamy", "elegant",
	"fervent", "focused", "goofy", "hungry", "inspiring", "keen", "loving", "magical", "modest",
	"nostalgic", "optimistic", "peaceful", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet",
	"tender", "trusting", "upbeat", "vibrant", "wizardly", "youthful", "zen", "quiet", "rapid",
	"golden", "silver", "crimson", "azure", "little", "big", "red", "blue", "green", "dark", "bright",
}

var nouns = []string{
	"curie", "darwin", "euler", "fermi", "galileo", "hawking", "hopper", "kepler", "lovelace",
	"newton", "pasteur", "tesla", "turing", "volta", "wozniak", "yalow", "bohr", "dirac", "gauss",
	"noether", "ramanujan", "sagan", "shannon", "torvalds", "babbage", "meitner", "franklin",
	"falcon", "otter", "panda", "tiger", "lynx", "raven", "badger", "beaver", "heron", "fox", "wolf",
	"river", "forest", "meadow", "canyon", "glacier", "harbor", "island", "summit", "valley", "comet",
	"nebula", "orbit", "pixel", "rocket", "signal", "vector", "quartz", "ember", "cedar", "maple",
}

var companies = []string{
	"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "cyberdyne", "soylent",
	"tyrell", "massive", "vandelay", "oceanic", "aperture", "pied-piper", "monsters", "dunder-mifflin",
	"gringotts", "nakatomi", "oscorp", "weyland", "blue-sun", "virtucon", "contoso", "fabrikam",
	"northwind", "tailspin", "litware", "adventure-works", "wingtip", "proseware", "lucerne", "woodgrove",
	"alpine", "fourth-coffee", "humongous", "margie", "trey", "coho", "datum", "relecloud", "bluefin",
	"kraken", "zephyr", "orbital", "nimbus", "quantum", "helix", "lumen", "vertex", "apex", "nova",
	"polaris", "sirius", "atlas", "titan", "echo", "sparrow", "juniper", "sequoia", "basalt", "cobalt",
}

var companySuffixes = []string{"", "", "", "corp", "inc", "labs", "io", "hq", "dev", "tech", "group", "eng", "team", "co", "gmbh", "ltd"}

var techWords = []string{
	"api", "web", "frontend", "backend", "mobile", "ios", "android", "desktop", "cli", "sdk", "docs",
	"website", "blog", "shop", "store", "checkout", "payments", "billing", "auth", "identity", "search",
	"catalog", "orders", "inventory", "shipping", "notifications", "email", "sms", "chat", "analytics",
	"metrics", "logging", "tracing", "monitoring", "alerts", "gateway", "proxy", "worker", "scheduler",
	"queue", "cache", "storage", "media", "images", "video", "uploads", "reports", "dashboard", "admin",
	"portal", "console", "platform", "infra", "core", "common", "shared", "utils", "tools", "ml",
	"data", "pipeline", "etl", "warehouse", "lake", "graph", "realtime", "sync", "crm", "erp", "cms",
	"marketing", "growth", "landing", "app", "server", "client", "service", "engine", "runtime",
}

var techSuffixes = []string{"", "", "", "", "api", "app", "service", "svc", "web", "server", "worker", "ui", "v2", "next", "legacy", "prod"}

var teamWords = []string{
	"platform", "sre", "infra", "security", "frontend", "backend", "mobile", "data", "ml", "design",
	"product", "growth", "payments", "core", "devops", "qa", "support", "docs", "research", "identity",
	"billing", "search", "observability", "release", "web", "ios", "android", "api", "integrations",
}

var labelNames = []string{
	"bug", "enhancement", "documentation", "duplicate", "help wanted", "good first issue", "invalid",
	"question", "wontfix", "dependencies", "security", "performance", "breaking change", "needs triage",
	"needs-triage", "needs review", "in progress", "blocked", "stale", "pinned", "regression", "P0",
	"P1", "P2", "P3", "priority: high", "priority: low", "priority/critical", "type: bug",
	"type: feature", "type: docs", "status: confirmed", "status: needs info", "kind/bug", "kind/feature",
	"kind/cleanup", "kind/flake", "area/networking", "area/storage", "area/api", "area/cli",
	"area/docs", "area/ui", "area/build", "sig/node", "sig/auth", "lgtm", "approved", "do-not-merge",
	"hacktoberfest", "javascript", "python", "go", "rust", "ci", "tests", "refactor", "chore",
	"release", "backport", "v2", "ux", "accessibility", "i18n", "windows", "macos", "linux",
	"epic", "spike", "tech debt", "🐛 bug", "✨ feature",
}

var secretWords = []string{
	"DEPLOY", "NPM", "AWS", "GCP", "AZURE", "DOCKER", "DOCKERHUB", "GITHUB", "SLACK", "SENTRY",
	"STRIPE", "TWILIO", "SENDGRID", "DATABASE", "DB", "REDIS", "POSTGRES", "API", "PROD", "STAGING",
	"CODECOV", "SONAR", "VERCEL", "NETLIFY", "HEROKU", "FIREBASE", "GPG", "SSH", "SIGNING", "PYPI",
	"CARGO", "MAVEN", "GRADLE", "KUBE", "HELM", "TF", "VAULT", "OPENAI", "ALGOLIA", "MAPBOX",
}

var secretSuffixes = []string{
	"KEY", "TOKEN", "SECRET", "PASSWORD", "API_KEY", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "URL",
	"WEBHOOK_URL", "AUTH_TOKEN", "PRIVATE_KEY", "CREDENTIALS", "USERNAME", "DSN", "HOST", "REGION",
}

var envVarNames = []string{
	"NODE_VERSION", "NODE_ENV", "API_URL", "NEXT_PUBLIC_SITE_URL", "NEXT_PUBLIC_API_URL", "DATABASE_URL",
	"HUGO_VERSION", "PYTHON_VERSION", "RUBY_VERSION", "YARN_VERSION", "NPM_FLAGS", "GATSBY_TELEMETRY_DISABLED",
	"SENTRY_DSN", "STRIPE_PUBLIC_KEY", "CONTEXT", "BASE_URL", "REACT_APP_API_URL", "VITE_API_URL",
}

var licences = []string{
	"mit", "apache-2.0", "gpl-3.0", "gpl-2.0", "bsd-3-clause", "bsd-2-clause", "mpl-2.0", "lgpl-2.1",
	"lgpl-3.0", "agpl-3.0", "unlicense", "cc0-1.0", "epl-2.0", "isc", "bsl-1.0", "0bsd", "wtfpl",
}

var plans = []string{
	"free", "pro", "pro-2024", "team", "business", "enterprise", "starter", "starter-2023", "growth",
	"hobby", "premium", "basic", "standard", "plus", "pro-annual", "team-monthly", "enterprise-2025",
}

var languages = []string{
	"C", "C#", "C++", "Go", "Objective-C", "Objective-C++", "Python", "JavaScript", "TypeScript", "Rust",
	"Ruby", "Java", "Kotlin", "Swift", "PHP", "Shell", "HTML", "CSS", "SCSS", "Jupyter Notebook",
	"Visual Basic .NET", "F#", "Dockerfile", "Makefile", "Vim Script", "Emacs Lisp", "Common Lisp",
	"Haskell", "Elixir", "Erlang", "Scala", "Clojure", "Dart", "Lua", "Perl", "R", "Julia", "Zig",
	"Nix", "HCL", "PowerShell", "TeX", "Vue", "Svelte", "Groovy", "OCaml", "Assembly", "CMake",
}

var tlds = []string{"com", "com", "com", "io", "io", "net", "org", "dev", "app", "co", "co.uk", "de", "fr", "nl", "shop", "cloud", "tech", "ai"}

var subdomains = []string{"", "", "", "www", "api", "app", "shop", "blog", "docs", "status", "mail", "cdn", "staging", "dev", "eu", "us"}

var regions = []string{"nyc1", "nyc3", "sfo2", "sfo3", "ams3", "fra1", "lon1", "sgp1", "blr1", "tor1", "syd1", "atl1"}

var environments = []string{
	"production", "staging", "development", "dev", "qa", "test", "preview", "sandbox", "prod",
	"prod-eu", "prod-us", "canary", "demo", "local", "uat", "perf",
}

var countries = []string{
	"US", "GB", "CA", "DE", "FR", "ES", "IT", "NL", "BE", "SE", "NO", "DK", "FI", "PL", "CZ", "AT",
	"CH", "IE", "PT", "AU", "NZ", "JP", "KR", "SG", "HK", "IN", "BR", "MX", "AR", "CL", "ZA", "IL",
	"AE", "TR", "GR", "RO", "HU", "EE", "LT", "PR",
}

var spotifyCategories = []string{
	"toplists", "pop", "hiphop", "rock", "dinner", "party", "workout", "chill", "focus", "sleep",
	"mood", "decades", "latin", "jazz", "classical", "country", "indie_alt", "edm_dance", "rnb",
	"metal", "romance", "kids_family", "gaming", "wellness", "punk", "blues", "soul", "funk",
	"reggae", "afro", "kpop", "jpop", "desi", "arab", "travel", "cooking", "summer", "christmas",
	"in_the_car", "at_home", "student", "family", "pride", "netflix",
}

var openAIModels = []string{
	"gpt-4o-mini", "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4-turbo", "gpt-4",
	"gpt-3.5-turbo", "gpt-3.5-turbo-0125", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o1-mini",
	"o3-mini", "o4-mini", "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
	"whisper-1", "tts-1", "tts-1-hd", "dall-e-3", "dall-e-2", "omni-moderation-latest", "babbage-002",
	"davinci-002", "gpt-4o-realtime-preview", "gpt-4o-audio-preview", "chatgpt-4o-latest",
}

var fileNames = []string{
	"index.html", "404.html", "robots.txt", "sitemap.xml", "favicon.ico", "_redirects", "_headers",
	"manifest.json", "main.js", "app.css", "styles.css", "bundle.js", "logo.svg", "logo.png",
	"about/index.html", "blog/index.html", "blog/hello-world/index.html", "docs/getting-started/index.html",
	"assets/main.3f2a9c.js", "assets/vendor.8b1e4d.js", "assets/app.c0ffee.css", "images/hero.jpg",
	"images/team.webp", "fonts/inter-var.woff2", "css/site.css", "js/app.js", "static/data.json",
}

var npmPackages = []string{
	"@netlify/plugin-lighthouse", "@netlify/plugin-nextjs", "@netlify/plugin-gatsby", "netlify-plugin-cache",
	"netlify-plugin-sitemap", "netlify-plugin-submit-sitemap", "@netlify/plugin-sitemap", "netlify-plugin-a11y",
	"netlify-plugin-checklinks", "netlify-plugin-image-optim", "@netlify/plugin-emails", "netlify-plugin-inline-critical-css",
}

var funcWords = []string{
	"hello", "process", "send", "resize", "sync", "import", "export", "notify", "generate", "render",
	"handle", "fetch", "update", "cleanup", "backup", "report", "checkout", "subscribe", "webhook", "auth",
}

var funcObjects = []string{
	"world", "payment", "email", "image", "users", "orders", "invoice", "report", "sitemap", "thumbnail",
	"stripe", "slack", "github", "cache", "search-index", "feed", "newsletter", "signup", "pdf", "og-image",
}

var sentryTagKeys = []string{
	"browser", "browser.name", "os", "os.name", "release", "environment", "level", "url", "user",
	"transaction", "device", "device.family", "server_name", "runtime", "runtime.name", "handled",
	"mechanism", "logger", "dist", "customer.tier", "tenant", "feature_flag", "region", "http.status_code",
}

var sentryFilters = []string{
	"browser-extensions", "localhost", "web-crawlers", "legacy-browsers", "filtered-transaction",
	"healthcheck", "react-hydration-errors", "chunk-load-error",
}

var dbNames = []string{
	"defaultdb", "app_production", "app_staging", "analytics", "reporting", "users", "orders", "events",
	"metrics", "inventory", "billing", "auth", "sessions", "cache", "search", "warehouse", "wordpress",
	"ghost", "strapi", "keycloak", "grafana", "mattermost", "gitea", "nextcloud",
}

var dbUsers = []string{
	"doadmin", "app_user", "readonly", "reporting", "analytics_ro", "migrations", "backup", "grafana",
	"metabase", "airflow", "app_rw", "replicator", "service_account", "etl",
}

var emojis = []string{
	"👍", "👎", "🎉", "❤️", "😂", "🔥", "👀", "✅", "❌", "🚀", "😢", "🙏", "💯", "🤔", "😍", "🥳", "👏", "⭐",
	"blobwave", "pepe_laugh", "kekw", "partyparrot", "catjam", "thonk",
}

var semverPre = []string{"", "", "", "", "", "-rc.1", "-rc.2", "-beta.1", "-alpha.3", "+build.5"}

var imageSlugs = []string{
	"ubuntu-22-04-x64", "ubuntu-24-04-x64", "ubuntu-20-04-x64", "debian-12-x64", "debian-11-x64",
	"fedora-39-x64", "fedora-40-x64", "centos-stream-9-x64", "rockylinux-9-x64", "almalinux-9-x64",
	"docker-20-04", "wordpress-20-04", "lamp-20-04", "mongodb-7-0", "nodejs-22-04", "gitlab-ce",
}

var sizeSlugs = []string{
	"basic-xxs", "basic-xs", "basic-s", "basic-m", "professional-xs", "professional-s", "professional-m",
	"professional-1l", "apps-s-1vcpu-0.5gb", "apps-s-1vcpu-1gb", "apps-d-1vcpu-2gb", "apps-d-2vcpu-4gb",
}

var userAgentsCommon = []string{
	"curl/8.5.0", "curl/7.88.1", "python-requests/2.31.0", "python-requests/2.32.3", "Go-http-client/1.1",
	"Go-http-client/2.0", "axios/1.6.8", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
	"okhttp/4.12.0", "PostmanRuntime/7.37.3", "insomnia/2023.5.8", "HTTPie/3.2.2",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
}

var scannerAgents = []string{
	"Mozilla/5.0 zgrab/0.x", "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
	"Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
	"python-requests/2.25.1", "Go-http-client/1.1", "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
	"Mozilla/5.0 (Windows NT 6.1; WOW64; rv:40.0) Gecko/20100101 Firefox/40.1", "sqlmap/1.7.2#stable (https://sqlmap.org)",
}

var probePaths = []string{
	"/wp-login.php", "/wp-admin/setup-config.php", "/wp-content/plugins/wp-file-manager/readme.txt",
	"/xmlrpc.php", "/.env", "/.env.production", "/api/.env", "/.git/config", "/.git/HEAD", "/.svn/entries",
	"/.aws/credentials", "/.DS_Store", "/phpmyadmin/index.php", "/pma/index.php", "/myadmin/index.php",
	"/admin/config.php", "/admin/login.php", "/administrator/index.php", "/config.json", "/config.php.bak",
	"/server-status", "/actuator/env", "/actuator/health", "/cgi-bin/luci", "/boaform/admin/formLogin",
	"/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/solr/admin/info/system", "/owa/auth/logon.aspx",
	"/remote/fgt_lang", "/HNAP1/", "/console/", "/manager/html", "/telescope/requests", "/debug/default/view",
	"/_ignition/execute-solution", "/autodiscover/autodiscover.xml", "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application",
	"/backup.zip", "/db.sql", "/dump.sql", "/.well-known/security.txt.bak", "/shell.php", "/info.php", "/test.php",
}

var staticPaths = []string{
	"/favicon.ico", "/robots.txt", "/apple-touch-icon.png", "/apple-touch-icon-precomposed.png",
	"/static/app.3f2a.js", "/static/app.9c1d.js", "/static/vendor.77ab.js", "/static/css/main.8b1e.css",
	"/static/js/chunk-vendors.9d8e7f.js", "/static/js/runtime.1a2b3c.js", "/assets/logo.png", "/assets/logo.svg",
	"/assets/fonts/inter-var.woff2", "/assets/fonts/roboto-mono.woff", "/assets/hero.webp", "/assets/og-image.jpg",
	"/img/icons/icon-192.png", "/img/icons/icon-512.png", "/img/favicon-32x32.png", "/sitemap.xml",
	"/static/media/background.4e5f.jpg", "/assets/index.b7c2d1.css", "/assets/index.5e8a0f.js", "/docs/openapi.html",
}
