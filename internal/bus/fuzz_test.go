package bus

import (
	"testing"
)

func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte("{\"txn_id\":\"a\",\"request\":{\"method\":\"GET\"}}\n{\"txn_id\":\"b\"}\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n\r\n"))
	f.Add([]byte("{\"txn_id\":\"a\"}\nnot json\n"))
	f.Add([]byte(`{"findings":[{"stage":"waf"}],"identity":{"scopes":["x"]},"tls":{"mtls":true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, bad := decodeBatch(data, nil)
		if bad < 0 || len(evs)+bad > len(data) {
			t.Fatalf("%d events + %d bad from %d bytes", len(evs), bad, len(data))
		}
	})
}

func FuzzParseRecords(f *testing.F) {
	f.Add([]byte("{\"txn_id\":\"a\"}\n{\"type\":\"alert\",\"txn_id\":\"b\"}\n"))
	f.Add([]byte("{\"txn_id\":\"a\""))
	f.Add([]byte("\x00\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range parseRecords(data) {
			if len(r.data) == 0 {
				t.Fatal("empty record")
			}
			for _, c := range r.data {
				if c == '\n' {
					t.Fatal("record holds a newline: it would split the batch")
				}
			}
		}
	})
}

func FuzzParseCache(f *testing.F) {
	f.Add([]byte(`{"key":"k","revision":3,"value":"djE="}`), "k")
	f.Add([]byte(`{"key":"k","revision":3,"value":null}`), "k")
	f.Add([]byte(`[]`), "k")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		c, err := parseCache(data, key)
		if err == nil && (c.Key != key || c.Value == nil) {
			t.Fatalf("accepted %+v for key %q", c, key)
		}
	})
}
