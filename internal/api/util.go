package api

import (
	"io"
	"strings"
)

func copyN(dst *strings.Builder, r io.Reader) (int64, error) { return io.Copy(dst, r) }
