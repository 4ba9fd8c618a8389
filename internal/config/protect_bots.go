package config

// Bots configures passive bot scoring and the browser challenge.
type Bots struct {
	Enabled bool `yaml:"enabled"`
}

func (c *Config) validateBots(add addFunc) {}
