// Package limits is the limits stage (work in progress; see internal/stage/README.md).
package limits

import (
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// New builds the stage from the config; nil when it is not configured.
func New(cfg *config.Config) (pipeline.Stage, error) { return nil, nil }
