package redislimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
)

// Limiter is a ratelimit.Limiter whose request and token buckets live in
// Redis, shared by every process that uses the same Redis and Prefix.
type Limiter struct {
	rl *ratelimit.Limiter
	st *store
}

// New returns a Limiter over client with a copy of cfg. It starts one
// goroutine, which sends pending corrections every FlushInterval; Close
// stops it. The client stays the caller's: Close does not close it.
func New(client redis.UniversalClient, cfg Config) *Limiter {
	st := &store{
		rdb:     client,
		cfg:     cfg,
		local:   ratelimit.NewMemoryStore(),
		pending: make(map[string]*pending),
		now:     time.Now,
		stop:    make(chan struct{}),
	}
	l := &Limiter{rl: ratelimit.New(cfg.limiter(st)), st: st}
	st.wg.Add(1)
	go st.flushLoop()
	return l
}

// Middleware returns the limiter as a roundtripper.Middleware; see
// ratelimit.Limiter.Middleware.
func (l *Limiter) Middleware() roundtripper.Middleware { return l.rl.Middleware() }

// Close sends the pending corrections (bounded by Timeout) and stops the
// limiter's goroutine. It is safe to call more than once; later calls do
// nothing. Calls through the middleware after Close still work, but their
// corrections wait for a reservation to carry them.
func (l *Limiter) Close() error {
	l.st.once.Do(func() {
		close(l.st.stop)
		l.st.wg.Wait()
		l.st.flush()
	})
	return nil
}

// Stats is a snapshot of a Limiter's counters.
type Stats struct {
	ratelimit.Stats       // per host, as for a local limiter
	Redis           Redis // how the shared store fared
}

// Redis counts how the limiter's Redis round trips went.
type Redis struct {
	Reservations int64     // reservations Redis answered
	Flushes      int64     // round trips that only carried corrections
	Errors       int64     // round trips that failed
	FailOpen     int64     // reservations answered by the local share while Redis was unreachable
	FailClosed   int64     // calls refused because Redis was unreachable (FailClosed)
	Degraded     bool      // Redis is taken as unreachable now
	DegradedAt   time.Time // when it last became so
	LastError    string    // the last error, if any
}

// Stats returns a snapshot of the counters.
func (l *Limiter) Stats() Stats {
	l.st.mu.Lock()
	r := l.st.stats
	r.Degraded = l.st.degraded
	l.st.mu.Unlock()
	return Stats{Stats: l.rl.Stats(), Redis: r}
}

// store is the ratelimit.Store in Redis, with a local fallback.
type store struct {
	rdb   redis.UniversalClient
	cfg   Config
	local *ratelimit.MemoryStore
	now   func() time.Time

	keyCache sync.Map // limiter key -> its two Redis keys

	mu            sync.Mutex
	pending       map[string]*pending
	degraded      bool
	degradedUntil time.Time // ask Redis again after this
	stats         Redis

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

var _ ratelimit.Store = (*store)(nil)

// pending are corrections not yet sent to Redis.
type pending struct {
	rates            ratelimit.Rates
	requests, tokens int64
}

// errUnavailable wraps Redis failures of a fail-closed limiter.
var errUnavailable = errors.New("redislimit: redis unavailable")

// keys returns the two Redis keys of a limiter key, made once per key.
func (s *store) keys(key string) []string {
	if k, ok := s.keyCache.Load(key); ok {
		return k.([]string)
	}
	p := s.cfg.prefix() + "{" + key + "}:"
	k, _ := s.keyCache.LoadOrStore(key, []string{p + "req", p + "tok"})
	return k.([]string)
}

// Reserve implements ratelimit.Store: one round trip to Redis, carrying the
// key's pending corrections. When Redis fails (or failed less than
// RetryInterval ago), it answers from the local share, or refuses with
// FailClosed.
func (s *store) Reserve(ctx context.Context, r ratelimit.Reservation) (ratelimit.Grant, error) {
	now := s.now()
	s.mu.Lock()
	if s.degraded && now.Before(s.degradedUntil) {
		s.mu.Unlock()
		return s.fallback(ctx, r, nil)
	}
	p := s.takePendingLocked(r.Key)
	s.mu.Unlock()
	if r.Rates == (ratelimit.Rates{}) && p.requests == 0 && p.tokens == 0 {
		// No limit configured or learnt yet: nothing to ask Redis.
		return ratelimit.Grant{OK: true, Wait: max(r.After, 0), Reason: "requests"}, nil
	}

	maxWait := int64(-1)
	if r.MaxWait >= 0 {
		maxWait = r.MaxWait.Milliseconds()
	}
	res, err := s.run(ctx, r.Key, r.Rates, r.Requests, r.Tokens, p, r.After, maxWait)
	if err != nil {
		s.putBack(r.Key, p)
		if callerDone(ctx, s.now()) {
			// The caller gave up; that says nothing about Redis.
			cause := context.Cause(ctx)
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			return ratelimit.Grant{}, fmt.Errorf("redislimit: %w", cause)
		}
		s.failed(err)
		return s.fallback(ctx, r, err)
	}
	s.mu.Lock()
	s.stats.Reservations++
	s.recoveredLocked()
	s.mu.Unlock()
	g := ratelimit.Grant{OK: res[0] == 1, Reason: "requests"}
	if res[2] == 2 {
		g.Reason = "tokens"
	}
	if res[1] < 0 {
		g.Wait = ratelimit.Never
	} else {
		g.Wait = time.Duration(res[1]) * time.Microsecond
	}
	return g, nil
}

// callerDone reports whether a failed round trip ended because the
// caller's context did. A connection deadline set from the context's
// deadline can fire a moment before the context reports it is done, so a
// deadline that has (all but) passed counts too.
func callerDone(ctx context.Context, now time.Time) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && now.After(dl.Add(-5*time.Millisecond))
}

// run is the one round trip.
func (s *store) run(ctx context.Context, key string, rates ratelimit.Rates, nreq, ntok int64, p pending, after time.Duration, maxWaitMs int64) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	var reqRate, tokRate int64
	if rates.RequestsPerMinute > 0 {
		reqRate = rates.RequestsPerMinute
	}
	if rates.TokensPerMinute > 0 {
		tokRate = rates.TokensPerMinute
	}
	afterMs := float64(max(after, 0)) / float64(time.Millisecond)
	res, err := reserveScript.Run(ctx, s.rdb, s.keys(key),
		reqRate, rates.RequestBurst(), nreq, p.requests,
		tokRate, rates.TokenBurst(), ntok, p.tokens,
		afterMs, maxWaitMs,
	).Int64Slice()
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("redislimit: unexpected script reply %v", res)
	}
	return res, err
}

func (s *store) takePendingLocked(key string) pending {
	p := s.pending[key]
	if p == nil {
		return pending{}
	}
	delete(s.pending, key)
	return *p
}

func (s *store) putBack(key string, p pending) {
	if p.requests == 0 && p.tokens == 0 {
		return
	}
	s.mu.Lock()
	s.addPendingLocked(key, p.rates, p.requests, p.tokens)
	s.mu.Unlock()
}

func (s *store) addPendingLocked(key string, rates ratelimit.Rates, requests, tokens int64) {
	p := s.pending[key]
	if p == nil {
		p = &pending{}
		s.pending[key] = p
	}
	p.rates = rates
	p.requests += requests
	p.tokens += tokens
}

func (s *store) failed(err error) {
	now := s.now()
	s.mu.Lock()
	s.stats.Errors++
	s.stats.LastError = err.Error()
	s.degradedUntil = now.Add(s.cfg.retryInterval())
	was := s.degraded
	if !was {
		s.degraded = true
		s.stats.DegradedAt = now
	}
	s.mu.Unlock()
	if !was && s.cfg.Logger != nil {
		mode := "failing open to a local share of 1/" + fmt.Sprint(s.cfg.processes())
		if s.cfg.FailClosed {
			mode = "failing closed"
		}
		s.cfg.Logger.Warn("redislimit: redis unreachable, "+mode, "err", err)
	}
}

func (s *store) recoveredLocked() {
	if !s.degraded {
		return
	}
	s.degraded = false
	if s.cfg.Logger != nil {
		s.cfg.Logger.Info("redislimit: redis reachable again")
	}
}

// fallback answers a reservation while Redis is unreachable.
func (s *store) fallback(ctx context.Context, r ratelimit.Reservation, err error) (ratelimit.Grant, error) {
	s.mu.Lock()
	if s.cfg.FailClosed {
		s.stats.FailClosed++
		if err == nil {
			err = errors.New(s.stats.LastError)
		}
		s.mu.Unlock()
		return ratelimit.Grant{}, fmt.Errorf("%w: %w", errUnavailable, err)
	}
	s.stats.FailOpen++
	s.mu.Unlock()
	r.Rates = s.share(r.Rates)
	g, _ := s.local.Reserve(ctx, r)
	g.Fallback = true
	return g, nil
}

// share is this process's part of rates while Redis is unreachable.
func (s *store) share(r ratelimit.Rates) ratelimit.Rates {
	n := s.cfg.processes()
	if r.RequestsPerMinute > 0 {
		r.RequestsPerMinute = max(1, r.RequestsPerMinute/n)
	}
	if r.TokensPerMinute > 0 {
		r.TokensPerMinute = max(1, r.TokensPerMinute/n)
	}
	return r
}

// Adjust implements ratelimit.Store. Corrections of grants Redis made wait
// for the key's next reservation (or the flush loop) to carry them, so a
// call costs one round trip; what the server said is left is not sent to
// Redis (each process holds back by itself when the server says nothing is
// left, which it says to all of them).
func (s *store) Adjust(ctx context.Context, a ratelimit.Adjustment) {
	if a.Fallback {
		a.Rates = s.share(a.Rates)
		s.local.Adjust(ctx, a)
		return
	}
	if a.Requests == 0 && a.Tokens == 0 {
		return
	}
	s.mu.Lock()
	s.addPendingLocked(a.Key, a.Rates, a.Requests, a.Tokens)
	s.mu.Unlock()
}

func (s *store) flushLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.flushInterval())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.flush()
		}
	}
}

// flush sends every key's pending corrections, one round trip per key.
func (s *store) flush() {
	s.mu.Lock()
	if s.degraded && s.now().Before(s.degradedUntil) {
		s.mu.Unlock()
		return
	}
	all := s.pending
	s.pending = make(map[string]*pending)
	s.mu.Unlock()
	for key, p := range all {
		_, err := s.run(context.Background(), key, p.rates, 0, 0, *p, 0, -1)
		if err != nil {
			s.putBack(key, *p)
			s.failed(err)
			continue
		}
		s.mu.Lock()
		s.stats.Flushes++
		s.recoveredLocked()
		s.mu.Unlock()
	}
}
