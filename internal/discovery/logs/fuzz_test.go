package logs

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func seedFile(f *testing.F, name string) {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		f.Add(l)
	}
}

// FuzzCLF: the combined/common parser never panics and what it returns is
// consistent.
func FuzzCLF(f *testing.F) {
	seedFile(f, "combined.log")
	seedFile(f, "common.log")
	seedFile(f, "vhost.log")
	f.Add([]byte(`::1 - - [17/May/2015:10:05:03 +0000] "GET /a\"b HTTP/1.1" 200 - "\\" "\x41"`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var rec Record
		var st parseState
		if parseCLF(line, &rec, &st) {
			if rec.Method == "" || rec.Path == "" || rec.Status < 100 || rec.Status > 999 || rec.RespBytes < 0 {
				t.Fatalf("accepted incomplete record %+v", rec)
			}
		}
	})
}

func FuzzEnvoyJSON(f *testing.F) {
	seedFile(f, "envoy.jsonl")
	seedFile(f, "istio.jsonl")
	f.Fuzz(func(t *testing.T, line []byte) {
		var rec Record
		if parseEnvoy(line, &rec, nil) && (rec.Method == "" || rec.Path == "") {
			t.Fatalf("accepted incomplete record %+v", rec)
		}
	})
}

// FuzzJSONAccess: the generic JSON access-log parser never panics, and a
// line it accepts has a valid method, a path and a sane status.
func FuzzJSONAccess(f *testing.F) {
	seedFile(f, "access.jsonl")
	seedFile(f, "envoy.jsonl")
	f.Fuzz(func(t *testing.T, line []byte) {
		var rec Record
		var st parseState
		if parseJSONAccess(line, &rec, &st) {
			if !validMethod(rec.Method) || rec.Path == "" || rec.Status != 0 && (rec.Status < 100 || rec.Status > 999) {
				t.Fatalf("accepted bad record %+v", rec)
			}
		}
	})
}

func FuzzVigilEvent(f *testing.F) {
	seedFile(f, "events.jsonl")
	f.Fuzz(func(t *testing.T, line []byte) {
		var rec Record
		if parseEvent(line, &rec, nil) && (rec.Method == "" || rec.Path == "") {
			t.Fatalf("accepted incomplete record %+v", rec)
		}
	})
}

func FuzzHAR(f *testing.F) {
	b, err := os.ReadFile("testdata/sample.har")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"log":{"entries":[{"request":{"method":"GET","url":"/x"},"response":{"content":{"text":"!!","encoding":"base64"}}}]}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		recs, dropped, err := parseHAR(bytes.NewReader(doc))
		if err != nil && (len(recs) != 0 || dropped != 0) {
			t.Fatal("records returned with an error")
		}
		for _, r := range recs {
			if r.Method == "" || r.Path == "" {
				t.Fatalf("incomplete record %+v", r)
			}
		}
	})
}

// FuzzReader: sniffing plus reading any input never panics, and counters
// stay consistent.
func FuzzReader(f *testing.F) {
	for _, n := range []string{"combined.log", "common.log", "envoy.jsonl", "events.jsonl", "sample.har"} {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = Sniff(in)
		r, err := NewReader(bytes.NewReader(in))
		if err != nil {
			return
		}
		var rec Record
		n := int64(0)
		for {
			err := r.Next(&rec)
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			n++
		}
		if n+r.Broken() != r.Lines() {
			t.Fatalf("records %d + broken %d != lines %d", n, r.Broken(), r.Lines())
		}
	})
}
