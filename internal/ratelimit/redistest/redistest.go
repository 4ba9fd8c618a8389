// Package redistest gives tests the local Redis server (127.0.0.1:6379)
// under a key prefix of their own, removed when the test ends. Without a
// Redis the test is skipped with the reason, except under CI=true, where
// it fails: CI starts one.
package redistest

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the local Redis.
const URL = "redis://127.0.0.1:6379/0"

// Prefix returns a client of the local Redis and a fresh key prefix
// starting with name.
func Prefix(t testing.TB, name string) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second})
	if err := c.Ping(context.Background()).Err(); err != nil {
		c.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("local Redis at 127.0.0.1:6379 unreachable under CI: %v", err)
		}
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	prefix := name + ":" + strconv.FormatUint(rand.Uint64(), 36) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}
