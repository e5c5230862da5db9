package fair

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Semaphore is the fleet-wide cap on an institution's bulk chunks: a Redis
// sorted set of holders scored by lease expiry, and a limit key the engine
// leader sets while the institution is in its peak hours (absent: no limit).
// Every worker process asks the same Redis, so the cap holds however many
// run. A holder renews its lease while its chunk runs; a killed worker's
// slots are freed when their leases expire, never leaked. Times are Redis's
// own (TIME), so workers' clocks need not agree.
type Semaphore struct {
	rdb   redis.UniversalClient
	lease time.Duration
}

// NewSemaphore returns a semaphore whose leases last lease.
func NewSemaphore(rdb redis.UniversalClient, lease time.Duration) *Semaphore {
	return &Semaphore{rdb: rdb, lease: lease}
}

// HoldersKey and LimitKey are the Redis keys of an institution's cap.
func HoldersKey(institution string) string { return "bindery:cap:{" + institution + "}:holders" }
func LimitKey(institution string) string   { return "bindery:cap:{" + institution + "}:limit" }

// acquireScript takes or renews a slot. KEYS: holders, limit. ARGV: holder,
// lease ms. Returns 1 (held) or 0 (the cap is full).
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local limit = tonumber(redis.call('GET', KEYS[2]) or '-1')
  if limit >= 0 and redis.call('ZCARD', KEYS[1]) >= limit then
    return 0
  end
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 1`)

// countScript drops expired holders and counts the live ones.
var countScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`)

// Acquire takes a slot for holder, or renews the one it has. False: the
// cap is full.
func (s *Semaphore) Acquire(ctx context.Context, institution, holder string) (bool, error) {
	n, err := acquireScript.Run(ctx, s.rdb, []string{HoldersKey(institution), LimitKey(institution)},
		holder, s.lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("peak cap of %s: %w", institution, err)
	}
	return n == 1, nil
}

// Release frees holder's slot.
func (s *Semaphore) Release(ctx context.Context, institution, holder string) error {
	return s.rdb.ZRem(ctx, HoldersKey(institution), holder).Err()
}

// Holders counts the live holders of an institution's slots.
func (s *Semaphore) Holders(ctx context.Context, institution string) (int, error) {
	return countScript.Run(ctx, s.rdb, []string{HoldersKey(institution)}).Int()
}

// HolderIDs lists the live holders (tests and diagnostics).
func (s *Semaphore) HolderIDs(ctx context.Context, institution string) ([]string, error) {
	if _, err := s.Holders(ctx, institution); err != nil {
		return nil, err
	}
	return s.rdb.ZRange(ctx, HoldersKey(institution), 0, -1).Result()
}

// SetLimit caps the institution's holders at limit for ttl (the engine
// renews it every step while the peak lasts); a negative limit lifts the cap.
func (s *Semaphore) SetLimit(ctx context.Context, institution string, limit int, ttl time.Duration) error {
	if limit < 0 {
		return s.rdb.Del(ctx, LimitKey(institution)).Err()
	}
	return s.rdb.Set(ctx, LimitKey(institution), limit, ttl).Err()
}

// Limit returns the cap in force (-1: none).
func (s *Semaphore) Limit(ctx context.Context, institution string) (int, error) {
	n, err := s.rdb.Get(ctx, LimitKey(institution)).Int()
	if errors.Is(err, redis.Nil) {
		return -1, nil
	}
	return n, err
}

// Hold keeps holder's slot renewed (every third of the lease) until the
// returned stop is called, which also releases it.
func (s *Semaphore) Hold(ctx context.Context, institution, holder string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_, _ = s.Acquire(context.WithoutCancel(ctx), institution, holder)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.Release(rctx, institution, holder)
	}
}
