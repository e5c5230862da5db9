package fair

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/testenv"
)

func TestSemaphoreCapAndLeaseExpiry(t *testing.T) {
	rd := testenv.NewRedis(t)
	opt, err := redis.ParseURL(rd.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	sem := NewSemaphore(rdb, time.Second)

	// No limit published (off-peak): every holder gets a slot, counted.
	for _, h := range []string{"a", "b", "c"} {
		ok, err := sem.Acquire(ctx, "DEMO", h)
		require.NoError(t, err)
		require.True(t, ok)
	}
	n, err := sem.Holders(ctx, "DEMO")
	require.NoError(t, err)
	require.Equal(t, 3, n)

	// Peak: limit 2. Three holders already: nobody new until two remain below.
	require.NoError(t, sem.SetLimit(ctx, "DEMO", 2, time.Minute))
	ok, err := sem.Acquire(ctx, "DEMO", "d")
	require.NoError(t, err)
	require.False(t, ok, "cap full")
	ok, err = sem.Acquire(ctx, "DEMO", "a")
	require.NoError(t, err)
	require.True(t, ok, "a holder renews its own slot")
	require.NoError(t, sem.Release(ctx, "DEMO", "b"))
	require.NoError(t, sem.Release(ctx, "DEMO", "c"))
	ok, err = sem.Acquire(ctx, "DEMO", "d")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = sem.Acquire(ctx, "OTHER", "x")
	require.NoError(t, err)
	require.True(t, ok, "caps are per institution")

	// A holder that stops renewing (its worker was killed) loses its slot
	// when the lease ends; one that renews keeps it.
	stop := sem.Hold(ctx, "DEMO", "d")
	time.Sleep(1500 * time.Millisecond) // past the 1 s lease: a's expired, d's renewed
	ids, err := sem.HolderIDs(ctx, "DEMO")
	require.NoError(t, err)
	require.Equal(t, []string{"d"}, ids)
	stop()
	n, err = sem.Holders(ctx, "DEMO")
	require.NoError(t, err)
	require.Equal(t, 0, n, "stop releases")

	require.NoError(t, sem.SetLimit(ctx, "DEMO", -1, 0))
	limit, err := sem.Limit(ctx, "DEMO")
	require.NoError(t, err)
	require.Equal(t, -1, limit)
}
