package config

// SSRF flags URL-carrying parameters that point at internal addresses.
type SSRF struct {
	Enabled bool `yaml:"enabled"`
}

// GraphQLGuard limits GraphQL query depth, aliases and cost.
type GraphQLGuard struct {
	Enabled bool `yaml:"enabled"`
}

// ResourceLimits caps resource-consumption knobs (page sizes).
type ResourceLimits struct{}

func (c *Config) validateGuards(add addFunc) {}
