package openapi

import (
	"os"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and a
// document it accepts must yield operations with a method and a path.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"petstore-2.0.yaml", "shop-3.0.yaml", "shop-v1-3.0.json", "users-3.1.yaml"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(""))
	f.Add([]byte("{}"))
	f.Add([]byte("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"))
	f.Add([]byte("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {/a: {get: {responses: {'200': {description: ok}}}}}\n"))
	f.Add([]byte("openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\ncomponents: {schemas: {A: {$ref: '#/components/schemas/A'}}}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		for _, op := range spec.Operations {
			if op.Method == "" || op.Path == "" || op.Path[0] != '/' {
				t.Fatalf("accepted operation without method or path: %+v", op)
			}
		}
	})
}

// FuzzTemplates feeds arbitrary observed paths (they come from the network)
// to matching and reconstruction: no panic, and the reconstructed document
// must parse again.
func FuzzTemplates(f *testing.F) {
	for _, p := range []string{"/products/{parameter}", "/a/{p}/{p}", "files/{x}.json?y", "/", "", "{", "/{}/{}", "/v1/orders/{id}", "/a//b/"} {
		f.Add(p)
	}
	spec := &Spec{BasePaths: []string{""}, Operations: []Operation{
		{Method: "GET", Path: "/products/{id}", RawPath: "/products/{id}"},
		{Method: "GET", Path: "/v2/orders/{id}", RawPath: "/v2/orders/{id}", APIVersion: "v2"},
		{Method: "GET", Path: "/files/{name}.json", RawPath: "/files/{name}.json"},
	}}
	f.Fuzz(func(t *testing.T, path string) {
		ep := Observed{Method: "GET", Path: path}
		Compare([]*Spec{spec}, []Observed{ep})
		out, err := Reconstruct("", []Observed{ep}, ReconstructOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(out, "reconstructed"); err != nil {
			t.Fatalf("reconstruction of %q does not parse: %v\n%s", path, err, out)
		}
	})
}
