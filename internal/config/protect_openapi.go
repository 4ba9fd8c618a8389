package config

// OpenAPIEnforce validates traffic against loaded OpenAPI specs.
type OpenAPIEnforce struct {
	Specs []string `yaml:"specs"`
}

func (c *Config) validateOpenAPI(add addFunc) {}
