package config

// Egress is the sidecar's egress listener for outbound HTTPS (CONNECT, or
// TLS with SNI), matched against rules whose action is intercept, tunnel
// or block. See docs/egress.md.
type Egress struct {
	// Listen is the egress listener address; empty disables egress.
	Listen string `yaml:"listen"`
}

func (c *Config) validateEgress(add addFunc) {}
