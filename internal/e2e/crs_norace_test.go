//go:build !race

package e2e

// crsStride: without the race detector the whole suite is replayed.
const crsStride = 1

// fpStride: the false-positive run sends every request.
const fpStride = 1
