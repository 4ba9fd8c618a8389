package config

import (
	"fmt"
	"strings"
	"time"
)

// RateLimit is a token bucket per key.
type RateLimit struct {
	Name string `yaml:"name"`
	// PathPrefix and Method narrow what the limit counts (all when empty).
	PathPrefix string `yaml:"path_prefix"`
	Method     string `yaml:"method"`
	// Key is "ip" (default) or "header:NAME".
	Key string `yaml:"key"`
	// Requests per Per, with Burst extra.
	Requests int           `yaml:"requests"`
	Per      time.Duration `yaml:"per"`
	Burst    int           `yaml:"burst"`
}

func (c *Config) validateRateLimits(add addFunc) {
	for i, rl := range c.Protect.RateLimits {
		p := fmt.Sprintf("protect.rate_limits[%d]", i)
		if rl.Requests <= 0 {
			add(p+".requests", "must be a positive number of requests")
		}
		if rl.Key != "ip" && !strings.HasPrefix(rl.Key, "header:") {
			add(p+".key", "%q is not ip or header:NAME", rl.Key)
		}
		if rl.Burst < 0 {
			add(p+".burst", "must not be negative")
		}
	}
}
