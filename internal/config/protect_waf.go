package config

// WAF configures the Coraza + OWASP CRS stage (internal/waf).
type WAF struct {
	Enabled bool `yaml:"enabled"`
}

func (c *Config) validateWAF(add addFunc) {}
