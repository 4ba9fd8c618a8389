//go:build race

package e2e

// crsStride: under the race detector the CRS runs about fifteen times
// slower; the replay takes every crsStride-th test (and every listed case),
// which exercises the same concurrent paths in CI time.
const crsStride = 4

// fpStride: the false-positive run sends every fpStride-th request under
// the race detector.
const fpStride = 20
