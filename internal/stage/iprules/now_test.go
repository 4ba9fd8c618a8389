package iprules

import (
	"io"
	"log/slog"
	"net/netip"
	"time"
)

var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
