package queue

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// WakeChannel is the Redis channel that wakes the engine leader when there
// is work for it (a job submitted, a chunk committed). It is only a hint: the
// engine also steps on a timer, so a lost message costs at most one tick.
//
// Redis, not PostgreSQL NOTIFY: a transaction that notifies takes a
// cluster-wide lock until its commit ends, which would serialize every chunk
// commit of every worker.
const WakeChannel = "bindery:wake"

// Waker publishes and receives wake-ups.
type Waker struct {
	c redis.UniversalClient
}

// NewWaker connects to Redis.
func NewWaker(opt asynq.RedisConnOpt) *Waker {
	return &Waker{c: opt.MakeRedisClient().(redis.UniversalClient)}
}

// Close releases the connection.
func (w *Waker) Close() error { return w.c.Close() }

// Wake publishes a wake-up. Errors are ignored: the engine's timer covers
// a lost message.
func (w *Waker) Wake(ctx context.Context) {
	_ = w.c.Publish(ctx, WakeChannel, "1").Err()
}

// Subscribe returns a channel that receives after every wake-up published
// (coalesced: a burst of wake-ups may arrive as one), and a stop function.
func (w *Waker) Subscribe(ctx context.Context) (<-chan struct{}, func()) {
	ps := w.c.Subscribe(ctx, WakeChannel)
	out := make(chan struct{}, 1)
	go func() {
		for range ps.Channel() {
			select {
			case out <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}()
	return out, func() { _ = ps.Close() }
}
