package ratelimit

import "time"

// Stats is a snapshot of a Limiter's counters.
type Stats struct {
	// Hosts maps each host (with PerKey, "host key:<hash prefix>") to its
	// counters.
	Hosts map[string]HostStats
}

// HostStats are the counters of one host since the Limiter was made.
type HostStats struct {
	Admitted        int64         // calls sent
	Waited          int64         // of those, calls that had to wait first
	WaitTime        time.Duration // the waits of those calls, added up
	Rejected        int64         // calls refused with ErrLimited
	TooManyRequests int64         // 429 responses seen
	InFlight        int           // calls holding a concurrency slot now (0 without MaxConcurrent)

	HeldUntil  time.Time // no call goes before this; zero if the host was never held
	HoldReason string    // why: "cooldown" after a 429, "requests" or "tokens" when the server said none were left

	RequestsPerMinute, TokensPerMinute     int64 // the limits in force (configured, else learnt); 0: none
	ServerRequestsLimit, ServerTokensLimit int64 // the limits the server last named; 0: never named
	RemainingRequests, RemainingTokens     int64 // what the server last said is left; -1: never said

	EstimatedTokens int64 // token estimates of the admitted calls, added up
	UsedTokens      int64 // tokens the responses reported in their usage, added up
	Corrected       int64 // responses whose usage corrected the estimate
}

// Stats returns a snapshot of the counters of every host seen so far.
func (l *Limiter) Stats() Stats {
	s := Stats{Hosts: make(map[string]HostStats)}
	l.hosts.Range(func(k, v any) bool {
		h := v.(*host)
		r := h.rates(&l.cfg)
		h.mu.Lock()
		hs := h.stats
		hs.HeldUntil, hs.HoldReason = h.holdUntil, h.holdReason
		hs.RemainingRequests, hs.RemainingTokens = h.remReq, h.remTok
		h.mu.Unlock()
		hs.RequestsPerMinute, hs.TokensPerMinute = r.RequestsPerMinute, r.TokensPerMinute
		if h.sem != nil {
			hs.InFlight = h.sem.inFlight()
		}
		s.Hosts[k.(string)] = hs
		return true
	})
	return s
}
