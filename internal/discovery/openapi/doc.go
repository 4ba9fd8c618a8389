// Package openapi is the OpenAPI side of Vigil's API discovery. It imports
// OpenAPI 2.0, 3.0 and 3.1 documents into a small normalized model (Spec),
// reconstructs an OpenAPI 3.1 document from observed traffic (Reconstruct),
// and compares observed endpoints with one or more specs to classify them as
// documented, shadow or zombie, list unused operations and report schema
// drift (Compare).
//
// The package is self-contained: it works on plain input structs (Observed)
// and does not import other discovery packages.
package openapi
