//go:build race

package e2e

// dashboardWAF: under the race detector loading the CRS takes ~13 s of the
// dashboard test's start; the other layers (OpenAPI, bots, IP rules) still
// turn the demo's attacks into findings.
const dashboardWAF = false
