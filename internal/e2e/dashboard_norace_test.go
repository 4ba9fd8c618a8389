//go:build !race

package e2e

// dashboardWAF: the WAF is on for the dashboard test (and its screenshots)
// without the race detector.
const dashboardWAF = true
