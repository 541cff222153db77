package queue

import (
	"math/rand/v2"
	"time"
)

// RetryDelay returns the visibility timeout to set on a message released
// for retry after its receiveCount-th receive: base * 2^(receiveCount-1),
// capped at max, minus up to 20 % random jitter (so that messages failing
// together do not come back together), rounded down to whole seconds and
// never below 1s (a zero visibility would make a failing message spin).
func RetryDelay(receiveCount int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < receiveCount && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	d -= time.Duration(rand.Int64N(int64(d)/5 + 1))
	d = d.Truncate(time.Second)
	if d < time.Second {
		d = time.Second
	}
	return d
}
