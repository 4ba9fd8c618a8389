package bot

import "math/bits"

// Class is what a user agent says about its client.
type Class uint8

// User-agent classes, by how much they weigh.
const (
	ClassNone     Class = iota // a browser, or nothing recognised
	ClassCrawler               // a self-declared crawler (Googlebot, bingbot)
	ClassLibrary               // a generic HTTP library or CLI (curl, python-requests)
	ClassScraper               // a scraping framework (Scrapy)
	ClassHeadless              // a headless browser (HeadlessChrome, PhantomJS)
	ClassAttack                // an attack or scanning tool (sqlmap, nikto)
)

// String names the class in findings.
func (c Class) String() string {
	switch c {
	case ClassCrawler:
		return "crawler"
	case ClassLibrary:
		return "generic HTTP library"
	case ClassScraper:
		return "scraping framework"
	case ClassHeadless:
		return "headless browser"
	case ClassAttack:
		return "attack tool"
	}
	return "browser"
}

// Weight is the score a class adds.
func (c Class) Weight() float64 {
	switch c {
	case ClassCrawler:
		return 0.2
	case ClassLibrary:
		return 0.3
	case ClassScraper:
		return 0.5
	case ClassHeadless:
		return 0.7
	case ClassAttack:
		return 1
	}
	return 0
}

// Signature is one known user-agent token.
type Signature struct {
	// Token is matched case-insensitively, at the start of a word (after
	// the start or a character that is not a letter or digit) and, unless
	// it ends in a non-letter, before a character that is not a letter.
	Token string
	// Anywhere matches the token inside words too ("bot/" in "Googlebot/2.1").
	Anywhere bool
	Class    Class
	// Name is the rule id suffix: bot:ua-<name>.
	Name string

	ruleID string
	reason string
}

// RuleID is the finding's rule id (bot:ua-sqlmap).
func (s *Signature) RuleID() string { return s.ruleID }

// Signatures are the built-in user-agent signatures, first match wins.
var Signatures = []Signature{
	// Attack and scanning tools.
	{Token: "sqlmap", Class: ClassAttack},
	{Token: "nikto", Class: ClassAttack},
	{Token: "nmap", Class: ClassAttack},
	{Token: "masscan", Class: ClassAttack},
	{Token: "zgrab", Class: ClassAttack},
	{Token: "nuclei", Class: ClassAttack},
	{Token: "gobuster", Class: ClassAttack},
	{Token: "dirbuster", Class: ClassAttack},
	{Token: "feroxbuster", Class: ClassAttack},
	{Token: "dirb", Class: ClassAttack},
	{Token: "wfuzz", Class: ClassAttack},
	{Token: "ffuf", Class: ClassAttack},
	{Token: "fuzz faster u fool", Class: ClassAttack, Name: "ffuf"},
	{Token: "hydra", Class: ClassAttack},
	{Token: "acunetix", Class: ClassAttack},
	{Token: "nessus", Class: ClassAttack},
	{Token: "openvas", Class: ClassAttack},
	{Token: "w3af", Class: ClassAttack},
	{Token: "wpscan", Class: ClassAttack},
	{Token: "commix", Class: ClassAttack},
	{Token: "arachni", Class: ClassAttack},
	{Token: "skipfish", Class: ClassAttack},
	{Token: "havij", Class: ClassAttack},
	{Token: "netsparker", Class: ClassAttack},
	{Token: "jaeles", Class: ClassAttack},
	{Token: "xsstrike", Class: ClassAttack},
	{Token: "zmeu", Class: ClassAttack},
	// Headless browsers and automation.
	{Token: "headlesschrome", Class: ClassHeadless},
	{Token: "phantomjs", Class: ClassHeadless},
	{Token: "slimerjs", Class: ClassHeadless},
	{Token: "htmlunit", Class: ClassHeadless},
	// Scraping frameworks.
	{Token: "scrapy", Class: ClassScraper},
	{Token: "colly", Class: ClassScraper},
	{Token: "httrack", Class: ClassScraper},
	{Token: "mechanize", Class: ClassScraper},
	// Generic HTTP libraries and command-line clients.
	{Token: "curl", Class: ClassLibrary},
	{Token: "wget", Class: ClassLibrary},
	{Token: "python-requests", Class: ClassLibrary},
	{Token: "python-urllib", Class: ClassLibrary},
	{Token: "python-httpx", Class: ClassLibrary, Name: "httpx"},
	{Token: "aiohttp", Class: ClassLibrary},
	{Token: "go-http-client", Class: ClassLibrary},
	{Token: "java-http-client", Class: ClassLibrary, Name: "java"},
	{Token: "java/", Class: ClassLibrary, Name: "java"},
	{Token: "okhttp", Class: ClassLibrary},
	{Token: "apache-httpclient", Class: ClassLibrary},
	{Token: "libwww-perl", Class: ClassLibrary},
	{Token: "node-fetch", Class: ClassLibrary},
	{Token: "axios", Class: ClassLibrary},
	{Token: "undici", Class: ClassLibrary},
	{Token: "guzzlehttp", Class: ClassLibrary},
	{Token: "httpie", Class: ClassLibrary},
	{Token: "postmanruntime", Class: ClassLibrary, Name: "postman"},
	{Token: "insomnia", Class: ClassLibrary},
	{Token: "reqwest", Class: ClassLibrary},
	{Token: "ruby", Class: ClassLibrary},
	{Token: "windowspowershell", Class: ClassLibrary, Name: "powershell"},
	// Self-declared crawlers.
	{Token: "bot/", Anywhere: true, Class: ClassCrawler, Name: "crawler"},
	{Token: "spider", Anywhere: true, Class: ClassCrawler, Name: "crawler"},
	{Token: "crawler", Anywhere: true, Class: ClassCrawler, Name: "crawler"},
}

// firstWord[pair(c0, c1)] holds the word-start signatures (bits by
// index) whose token starts with the lower-case bytes c0 c1 (or another
// pair of the same hash).
var firstWord [1024][2]uint64

// pair hashes a token's first two bytes into firstWord.
func pair(a, b byte) int { return (int(a)*37 ^ int(b)) & 1023 }

// anywhere lists, in order, the signatures matched inside words.
var anywhere []int

// charClass marks letters and digits, and the first letters of in-word
// tokens (either case).
var charClass [256]uint8

const (
	classAlnum uint8 = 1 << iota
	classAnyFirst
)

func init() {
	if len(Signatures) > 128 {
		panic("bot: more than 128 signatures")
	}
	for c := range 256 {
		if isAlnum(byte(c)) {
			charClass[c] |= classAlnum
		}
	}
	for i := range Signatures {
		s := &Signatures[i]
		if s.Name == "" {
			s.Name = s.Token
		}
		s.ruleID = "bot:ua-" + s.Name
		s.reason = "user agent " + s.Name + " (" + s.Class.String() + ")"
		c := lower(s.Token[0])
		if s.Anywhere {
			if c < 'a' || c > 'z' {
				panic("bot: an anywhere token must start with a letter")
			}
			anywhere = append(anywhere, i)
			charClass[c] |= classAnyFirst
			charClass[c-'a'+'A'] |= classAnyFirst
		} else {
			firstWord[pair(c, lower(s.Token[1]))][i/64] |= 1 << (i % 64)
		}
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// maxUAScan bounds the bytes of a user agent that are scanned.
const maxUAScan = 512

// Classify finds the first signature the user agent carries (nil when
// none). It does not allocate: one pass over the bytes, looking up
// word-start tokens by their first two bytes where a word begins and the
// few in-word tokens where their first letter stands.
func Classify(ua string) *Signature {
	if len(ua) > maxUAScan {
		ua = ua[:maxUAScan]
	}
	best := len(Signatures)
	inWord := false
	for i := 0; i < len(ua); i++ {
		k := charClass[ua[i]]
		if k == 0 {
			inWord = false
			continue
		}
		if !inWord && i+1 < len(ua) {
			cand := firstWord[pair(lower(ua[i]), lower(ua[i+1]))]
			for w := range 2 {
				for b := cand[w]; b != 0; b &= b - 1 {
					idx := w*64 + bits.TrailingZeros64(b)
					if idx >= best {
						break
					}
					if matchAt(ua, i, &Signatures[idx]) {
						best = idx
					}
				}
			}
		}
		inWord = true
		if k&classAnyFirst != 0 {
			for _, idx := range anywhere {
				if idx >= best {
					break
				}
				if matchAt(ua, i, &Signatures[idx]) {
					best = idx
				}
			}
		}
	}
	if best == len(Signatures) {
		return nil
	}
	return &Signatures[best]
}

func matchAt(ua string, i int, s *Signature) bool {
	t := s.Token
	if len(ua)-i < len(t) {
		return false
	}
	for j := 1; j < len(t); j++ {
		if lower(ua[i+j]) != t[j] {
			return false
		}
	}
	if s.Anywhere || !isLetter(t[len(t)-1]) {
		return true
	}
	end := i + len(t)
	return end == len(ua) || !isLetter(ua[end])
}
