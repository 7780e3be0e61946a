package serve

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket holding up to perMinute units, refilled at
// perMinute per minute.
type bucket struct {
	level float64
	last  time.Time
}

// take removes n units if the bucket holds them, else reports how long
// until it will. A request larger than the whole bucket can never pass:
// it reports never.
func (b *bucket) take(perMinute int, n float64, now time.Time) (ok bool, wait time.Duration, never bool) {
	if perMinute <= 0 {
		return true, 0, false
	}
	capacity := float64(perMinute)
	rate := capacity / 60 // per second
	if b.last.IsZero() {
		b.level = capacity
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.level = math.Min(capacity, b.level+dt*rate)
	}
	b.last = now
	if n > capacity {
		return false, time.Minute, true
	}
	if b.level >= n {
		b.level -= n
		return true, 0, false
	}
	return false, time.Duration((n - b.level) / rate * float64(time.Second)), false
}

// limiter holds every customer's request and token buckets. Buckets
// outlive credential reloads (keyed by customer ID).
type limiter struct {
	mu sync.Mutex
	m  map[string]*limits
}

type limits struct{ req, tok bucket }

// rates are a customer's effective limits (0: unlimited).
type rates struct{ rpm, tpm int }

func newLimiter() *limiter { return &limiter{m: map[string]*limits{}} }

// take charges one request and tokens tokens to customer id. On refusal
// it charges nothing and returns the wait and whether the request is
// larger than the token limit itself.
func (l *limiter) take(id string, r rates, tokens int, now time.Time) (ok bool, wait time.Duration, tooLarge bool) {
	if r.rpm <= 0 && r.tpm <= 0 {
		return true, 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.m[id]
	if s == nil {
		s = &limits{}
		l.m[id] = s
	}
	saveReq := s.req
	okReq, waitReq, _ := s.req.take(r.rpm, 1, now)
	if !okReq {
		return false, waitReq, false
	}
	okTok, waitTok, never := s.tok.take(r.tpm, float64(tokens), now)
	if !okTok {
		s.req = saveReq // the request was not served: give its slot back
		return false, waitTok, never
	}
	return true, 0, false
}

// refund returns tokens charged but not used (the estimate was
// max_tokens; fewer were generated or the request failed).
func (l *limiter) refund(id string, r rates, tokens int) {
	if r.tpm <= 0 || tokens <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.m[id]; s != nil {
		s.tok.level = math.Min(float64(r.tpm), s.tok.level+float64(tokens))
	}
}

// retrySeconds rounds a wait up to whole seconds (at least 1) for
// Retry-After.
func retrySeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}
