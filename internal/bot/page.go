package bot

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// Script is the challenge page's JavaScript. It reads the token and the
// difficulty from the body's data attributes, finds a nonce such that
// SHA-256(token ":" nonce) has that many leading zero bits, sends "token:nonce" in the Vigil-Challenge header of a POST
// to the same URL, and, once the cookie is set, loads the page again.
// It is static, so the Content-Security-Policy names it by its hash.
//
// It hashes with a small SHA-256 of its own rather than WebCrypto:
// crypto.subtle exists only in secure contexts (not on plain HTTP), and
// its per-call promise costs more than the hash (measured under Node 20:
// 14 bits in about 1 s with crypto.subtle). This one hashes the token's
// whole blocks once and only the last block or two per try, allocating
// nothing: 16 bits in about 0.4 s with Node's start included. The work
// yields to the event loop every 4096 tries so the page stays responsive.
const Script = `(function(){
"use strict";
var K=[0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
var W=new Int32Array(64);
function compress(H,p,o){
var i;
for(i=0;i<16;i++)W[i]=p[o+4*i]<<24|p[o+4*i+1]<<16|p[o+4*i+2]<<8|p[o+4*i+3];
for(i=16;i<64;i++){var x=W[i-15],y=W[i-2];
W[i]=(W[i-16]+((x>>>7|x<<25)^(x>>>18|x<<14)^(x>>>3))+W[i-7]+((y>>>17|y<<15)^(y>>>19|y<<13)^(y>>>10)))|0;}
var a=H[0],b=H[1],c=H[2],d=H[3],e=H[4],f=H[5],g=H[6],h=H[7];
for(i=0;i<64;i++){
var t1=(h+((e>>>6|e<<26)^(e>>>11|e<<21)^(e>>>25|e<<7))+((e&f)^(~e&g))+K[i]+W[i])|0;
var t2=(((a>>>2|a<<30)^(a>>>13|a<<19)^(a>>>22|a<<10))+((a&b)^(a&c)^(b&c)))|0;
h=g;g=f;f=e;e=(d+t1)|0;d=c;c=b;b=a;a=(t1+t2)|0;}
H[0]=(H[0]+a)|0;H[1]=(H[1]+b)|0;H[2]=(H[2]+c)|0;H[3]=(H[3]+d)|0;
H[4]=(H[4]+e)|0;H[5]=(H[5]+f)|0;H[6]=(H[6]+g)|0;H[7]=(H[7]+h)|0;}
var body=document.body,tok=body.getAttribute("data-token"),bits=+body.getAttribute("data-bits");
var st=document.getElementById("vigil-status");
// SHA-256(tok ":" nonce): the whole blocks of the constant prefix are
// hashed once; each try hashes only the last block or two.
var pre=new TextEncoder().encode(tok+":"),whole=(pre.length>>6)<<6;
var mid=new Int32Array([0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19]);
for(var o=0;o<whole;o+=64)compress(mid,pre,o);
var rest=pre.subarray(whole),buf=new Uint8Array(128),H=new Int32Array(8);
function zeros(){var n=0;for(var i=0;i<8;i++){if(H[i]===0){n+=32;continue;}return n+Math.clz32(H[i]);}return n;}
function attempt(n){
var s=""+n,l=rest.length,i;
buf.fill(0);buf.set(rest);
for(i=0;i<s.length;i++)buf[l+i]=s.charCodeAt(i);
l+=s.length;buf[l]=0x80;
var nb=l+9<=64?64:128,bl=(pre.length+s.length)*8;
buf[nb-4]=bl>>>24;buf[nb-3]=(bl>>>16)&255;buf[nb-2]=(bl>>>8)&255;buf[nb-1]=bl&255;
H.set(mid);compress(H,buf,0);if(nb===128)compress(H,buf,64);
return zeros()>=bits;}
function say(s){if(st)st.textContent=s;}
async function solve(){
var n=0,B=4096;
for(;;){
for(var j=0;j<B;j++)if(attempt(n+j))return n+j;
await new Promise(function(r){setTimeout(r,0);});
n+=B;}}
async function run(){
var t0=Date.now(),nonce=await solve();
say("Verified in "+(Date.now()-t0)+" ms; loading\u2026");
var h={};h["Vigil-Challenge"]=tok+":"+nonce;
var r=await fetch(location.href,{method:"POST",headers:h,credentials:"same-origin",cache:"no-store"});
if(r.ok){location.replace(location.href);return;}
say("Verification failed; retrying\u2026");setTimeout(function(){location.reload();},2000);}
run().catch(function(e){say("Verification failed: "+e);});
})();`

// Style is the page's CSS (also named by its hash).
const Style = `body{font:16px/1.5 system-ui,sans-serif;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center;background:#f6f7f9;color:#222}main{max-width:32em;padding:2em;text-align:center}h1{font-size:1.3em;font-weight:600}`

// CSP is the Content-Security-Policy of the challenge page: nothing but
// its own inline script and style (by hash) and a request to its origin.
var CSP = "default-src 'none'; script-src " + hashSource(Script) + "; style-src " + hashSource(Style) +
	"; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func hashSource(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

// Page renders the challenge page for a token. The token is
// base64url, digits and dots, so it needs no escaping.
func Page(token string, bits int) []byte {
	b := make([]byte, 0, len(pageHead)+len(Script)+len(pageTail)+256)
	b = append(b, pageHead...)
	b = append(b, `<body data-token="`...)
	for i := 0; i < len(token); i++ {
		if c := token[i]; isAlnum(c) || c == '.' || c == '-' || c == '_' {
			b = append(b, c)
		}
	}
	b = append(b, `" data-bits="`...)
	b = strconv.AppendInt(b, int64(bits), 10)
	b = append(b, `"><main><h1>Checking your browser&hellip;</h1><p id="vigil-status">This takes a moment and needs JavaScript.</p>`+
		`<noscript><p>Please turn on JavaScript to continue.</p></noscript></main><script>`...)
	b = append(b, Script...)
	b = append(b, pageTail...)
	return b
}

const pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
	`<meta name="robots" content="noindex,nofollow"><title>Checking your browser</title><style>` + Style + `</style></head>`

const pageTail = `</script></body></html>`
