package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Store holds the request and token buckets of a [Limiter]. The Limiter
// itself keeps everything else (concurrency, cooldowns, what the server's
// headers said), so a Store is only the two buckets per key. nil in
// Config.Store means a [MemoryStore] private to the Limiter; redislimit
// provides one in Redis, shared by every process using it.
//
// Implementations must be safe for concurrent use.
type Store interface {
	// Reserve takes r.Requests requests and r.Tokens tokens from the
	// buckets of r.Key if they can be had within r.MaxWait, and reports how
	// long the call must wait before it may go. When they cannot, it takes
	// nothing and reports (OK false) how long the call would have had to
	// wait, or Never if the buckets can never hold that much.
	// An error means the store could not be asked; the Limiter then refuses
	// the call (fail closed). A Store that prefers to fail open answers
	// from a fallback of its own instead and sets Grant.Fallback.
	Reserve(ctx context.Context, r Reservation) (Grant, error)

	// Adjust corrects the buckets of a.Key after the fact: it charges
	// positive amounts and gives back negative ones (a call that was not
	// sent, a response whose usage differs from the estimate). It cannot
	// fail in a way the caller could act on, so it returns nothing; a
	// Store may apply it later (redislimit sends it with the next
	// reservation, to keep one round trip per call).
	Adjust(ctx context.Context, a Adjustment)
}

// Rates are the limits of one key's buckets. Zero means no limit.
type Rates struct {
	RequestsPerMinute int64 // refilled at RequestsPerMinute/60 per second, burst max(1, RequestsPerMinute/60)
	TokensPerMinute   int64 // refilled at TokensPerMinute/60 per second, burst TokensPerMinute
}

// RequestBurst is how many requests may go at once: one second's worth,
// and at least one. Providers enforce per-minute request limits over
// shorter slices, so a whole minute's requests at once would earn 429s.
func (r Rates) RequestBurst() int64 { return max(1, r.RequestsPerMinute/60) }

// TokenBurst is how many tokens the bucket holds: a whole minute's worth,
// because one call may rightly need thousands of tokens.
func (r Rates) TokenBurst() int64 { return r.TokensPerMinute }

// Reservation asks a Store for capacity.
type Reservation struct {
	Key      string        // names the buckets: a host, or a host and a hash of its API key
	Now      time.Time     // the Limiter's clock; a shared Store may use its own
	After    time.Duration // the call cannot go before Now+After anyway (a cooldown): reserve from then
	Rates    Rates         // the limits in force for Key
	Requests int64         // requests to take, normally 1
	Tokens   int64         // tokens to take: the call's estimate
	MaxWait  time.Duration // take nothing if the wait (from Now, After included) would exceed this; negative: no bound
}

// Grant is a Store's answer to a Reservation.
type Grant struct {
	OK       bool          // the capacity was taken
	Wait     time.Duration // from Now until the call may go (After included); when !OK, the wait it would have needed, or Never
	Reason   string        // the bucket that set Wait: "requests" or "tokens"
	Fallback bool          // answered by a fallback because the shared store was unreachable
}

// Adjustment corrects a key's buckets; see Store.Adjust.
type Adjustment struct {
	Key      string    // names the buckets, as in Reservation
	Now      time.Time // the Limiter's clock
	Rates    Rates     // the limits in force for Key
	Requests int64     // added to what was taken: positive charges, negative gives back
	Tokens   int64     // likewise for tokens
	Fallback bool      // the Grant being corrected had Fallback set

	// RemainingRequests and RemainingTokens are what the server last said
	// is left (negative: it did not say). A Store lowers its bucket to them
	// when it holds more; it never raises it.
	RemainingRequests, RemainingTokens int64
}

// MemoryStore keeps buckets in this process on golang.org/x/time/rate. Its
// zero value is not usable; call NewMemoryStore. Keys are never evicted:
// there is one per host (and per API key hash, with Config.PerKey).
type MemoryStore struct {
	mu      sync.Mutex
	buckets map[string]*buckets
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{buckets: make(map[string]*buckets)}
}

var _ Store = (*MemoryStore)(nil)

type buckets struct {
	mu    sync.Mutex
	rates Rates
	req   *rate.Limiter
	tok   *rate.Limiter
}

func (s *MemoryStore) get(key string) *buckets {
	s.mu.Lock()
	b := s.buckets[key]
	if b == nil {
		b = &buckets{req: rate.NewLimiter(rate.Inf, 0), tok: rate.NewLimiter(rate.Inf, 0)}
		s.buckets[key] = b
	}
	s.mu.Unlock()
	return b
}

// setRates brings the limiters to r. A limiter that goes from no limit to a
// limit starts full, as a new one would; one whose limit changes keeps what
// it holds (capped at the new burst).
func (b *buckets) setRates(r Rates, now time.Time) {
	if b.rates == r {
		return
	}
	set := func(lim *rate.Limiter, perMinute, burst int64) *rate.Limiter {
		if perMinute <= 0 {
			return rate.NewLimiter(rate.Inf, 0)
		}
		l := rate.Limit(float64(perMinute) / 60)
		if lim.Limit() == rate.Inf {
			return rate.NewLimiter(l, int(burst))
		}
		lim.SetLimitAt(now, l)
		lim.SetBurstAt(now, int(burst))
		return lim
	}
	if r.RequestsPerMinute != b.rates.RequestsPerMinute {
		b.req = set(b.req, r.RequestsPerMinute, r.RequestBurst())
	}
	if r.TokensPerMinute != b.rates.TokensPerMinute {
		b.tok = set(b.tok, r.TokensPerMinute, r.TokenBurst())
	}
	b.rates = r
}

// Reserve implements Store. It never fails.
func (s *MemoryStore) Reserve(_ context.Context, r Reservation) (Grant, error) {
	return s.reserve(r), nil
}

func (s *MemoryStore) reserve(r Reservation) Grant {
	b := s.get(r.Key)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setRates(r.Rates, r.Now)
	at := r.Now.Add(max(r.After, 0))
	// Both reservations are made and, if the wait is too long, cancelled
	// under b.mu, so no other reservation comes between: CancelAt then
	// restores exactly what was taken, and a refused call takes nothing.
	rr := b.req.ReserveN(at, int(r.Requests))
	if !rr.OK() {
		return Grant{Wait: Never, Reason: "requests"}
	}
	tr := b.tok.ReserveN(at, int(min(r.Tokens, 1<<40)))
	if !tr.OK() {
		rr.CancelAt(at)
		return Grant{Wait: Never, Reason: "tokens"}
	}
	g := Grant{OK: true, Wait: max(r.After, 0), Reason: "requests"}
	if d := rr.DelayFrom(at); d > 0 {
		g.Wait += d
	}
	if d := tr.DelayFrom(at); d > 0 && max(r.After, 0)+d > g.Wait {
		g.Wait, g.Reason = max(r.After, 0)+d, "tokens"
	}
	if r.MaxWait >= 0 && g.Wait > r.MaxWait {
		tr.CancelAt(at)
		rr.CancelAt(at)
		g.OK = false
	}
	return g
}

// Adjust implements Store.
func (s *MemoryStore) Adjust(_ context.Context, a Adjustment) {
	b := s.get(a.Key)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setRates(a.Rates, a.Now)
	adjust(b.req, a.Now, a.Requests)
	adjust(b.tok, a.Now, a.Tokens)
	lower(b.req, a.Now, a.RemainingRequests)
	lower(b.tok, a.Now, a.RemainingTokens)
}

// adjust charges n tokens to lim (gives back -n when negative). A charge
// may leave the bucket in debt, so later calls wait longer; a refund never
// fills it past its burst.
func adjust(lim *rate.Limiter, now time.Time, n int64) {
	if n == 0 || lim.Limit() == rate.Inf {
		return
	}
	// ReserveN refuses more than a burst at once; charge in bursts.
	burst := int64(max(lim.Burst(), 1))
	for n > 0 {
		c := min(n, burst)
		lim.ReserveN(now, int(c))
		n -= c
	}
	if n < 0 {
		// A negative reservation adds tokens; the limiter caps them at
		// its burst the next time it looks.
		lim.ReserveN(now, int(max(n, -burst)))
	}
}

// lower drains lim to at most remaining.
func lower(lim *rate.Limiter, now time.Time, remaining int64) {
	if remaining < 0 || lim.Limit() == rate.Inf {
		return
	}
	if have := lim.TokensAt(now); have > float64(remaining) {
		lim.ReserveN(now, int(have-float64(remaining)))
	}
}
