package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is N requests per Period.
type Rate struct {
	N      int64
	Period time.Duration
}

// PerSecond is the refill rate in tokens per second.
func (r Rate) PerSecond() float64 { return float64(r.N) / r.Period.Seconds() }

// String formats the rate as ParseRate reads it.
func (r Rate) String() string {
	switch r.Period {
	case time.Second:
		return strconv.FormatInt(r.N, 10) + "/s"
	case time.Minute:
		return strconv.FormatInt(r.N, 10) + "/m"
	case time.Hour:
		return strconv.FormatInt(r.N, 10) + "/h"
	case 24 * time.Hour:
		return strconv.FormatInt(r.N, 10) + "/d"
	}
	return strconv.FormatInt(r.N, 10) + "/" + r.Period.String()
}

// ParseRate reads "N/s", "N/m", "N/h", "N/d" or "N/DURATION" ("100/10s",
// "5/15m", "1/500ms"): N a positive whole number of requests, the period
// at least a millisecond and at most a week.
func ParseRate(s string) (Rate, error) {
	n, p, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q is not N/s, N/m, N/h or N/DURATION", s)
	}
	count, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
	if err != nil || count <= 0 || count > 1e9 {
		return Rate{}, fmt.Errorf("%q: the count must be a whole number from 1 to 1000000000", s)
	}
	p = strings.TrimSpace(p)
	var d time.Duration
	switch p {
	case "s", "sec", "second":
		d = time.Second
	case "m", "min", "minute":
		d = time.Minute
	case "h", "hour":
		d = time.Hour
	case "d", "day":
		d = 24 * time.Hour
	default:
		if strings.HasSuffix(p, "d") {
			days, err := strconv.Atoi(strings.TrimSuffix(p, "d"))
			if err != nil {
				return Rate{}, fmt.Errorf("%q: bad period %q", s, p)
			}
			d = time.Duration(days) * 24 * time.Hour
			break
		}
		if d, err = time.ParseDuration(p); err != nil {
			return Rate{}, fmt.Errorf("%q: bad period %q (s, m, h, d or a duration such as 10s)", s, p)
		}
	}
	if d < time.Millisecond || d > 7*24*time.Hour {
		return Rate{}, fmt.Errorf("%q: the period must be between 1ms and 7d", s)
	}
	return Rate{N: count, Period: d}, nil
}
