package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Checker tracks the health of a set of endpoints and routes calls to the
// best one in service. Create it with New, install it with Middleware, and
// stop its probes with Close. It is safe for concurrent use.
type Checker struct {
	clk           clock
	eps           []*endpoint
	transport     http.RoundTripper
	probing       bool
	interval      time.Duration
	timeout       time.Duration
	probeMethod   string
	probeHeader   http.Header
	probeFailures int
	callFailures  int // 0: passive ejection off
	cooldown      time.Duration
	maxCooldown   time.Duration
	onChange      func(StateChange)
	log           *slog.Logger

	mu sync.Mutex // guards the mutable fields of every endpoint

	stop      chan struct{} // closed by Close: no probe starts after it
	closed    atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New validates cfg and starts probing every endpoint at once in the
// background (the warm-up round), then every Interval, unless Interval is
// negative. It fails when there is no endpoint or one does not parse; the
// error names it. Call Close to stop the probes.
func New(cfg Config) (*Checker, error) {
	return newChecker(cfg, wallClock{})
}

func newChecker(cfg Config, clk clock) (*Checker, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("health: no endpoints")
	}
	c := &Checker{
		clk:           clk,
		transport:     cfg.transport(),
		probing:       cfg.interval() > 0,
		interval:      cfg.interval(),
		timeout:       cfg.timeout(),
		probeMethod:   cfg.probeMethod(),
		probeHeader:   cfg.ProbeHeader.Clone(),
		probeFailures: cfg.probeFailures(),
		callFailures:  cfg.callFailures(),
		cooldown:      cfg.cooldown(),
		maxCooldown:   cfg.maxCooldown(),
		onChange:      cfg.OnStateChange,
		log:           cfg.Logger,
	}
	if c.probeHeader == nil {
		c.probeHeader = http.Header{}
	}
	for i, raw := range cfg.Endpoints {
		u, err := parseEndpoint(i, raw)
		if err != nil {
			return nil, err
		}
		ep := newEndpoint(i, u)
		if ep.probeURL, err = probeURL(u, cfg.probePath()); err != nil {
			return nil, err
		}
		if _, err := http.NewRequest(c.probeMethod, ep.probeURL, nil); err != nil {
			return nil, fmt.Errorf("health: probe method %q: invalid", c.probeMethod)
		}
		c.eps = append(c.eps, ep)
	}
	c.stop = make(chan struct{})
	if c.probing {
		for _, ep := range c.eps {
			c.wg.Add(1)
			go c.probeLoop(ep)
		}
	}
	return c, nil
}

// Close stops the probes and waits for the probing goroutines to end. A
// probe in flight is let finish (within its Timeout) rather than cut, so
// that once Close returns no server sees a probe from this Checker. Close
// then closes the idle connections the checker's probes and calls opened to
// the endpoints (busy ones once their calls end). The middleware keeps working afterwards, on
// passive ejection and half-open trials alone, as with probes off. Close is
// safe to call more than once and always returns nil.
func (c *Checker) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closed.Store(true)
		close(c.stop)
	})
	c.wg.Wait()
	if first {
		// Leave no idle connection of ours behind in a pool the checker
		// does not own (http.DefaultTransport's, when Transport is nil).
		c.mu.Lock()
		for _, ep := range c.eps {
			ejectConnsLocked(ep)
		}
		c.mu.Unlock()
	}
	return nil
}

// Stats returns a snapshot of every endpoint, most preferred first.
func (c *Checker) Stats() []EndpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]EndpointStats, len(c.eps))
	for i, ep := range c.eps {
		s := EndpointStats{
			Endpoint:                 ep.display,
			State:                    ep.state,
			Reason:                   ep.reason,
			ConsecutiveFailures:      ep.failures,
			ConsecutiveProbeFailures: ep.probeFailures,
			LastProbe:                ep.lastProbe,
			Ejections:                ep.ejections,
		}
		if ep.state == StateEjected && c.trials() {
			s.TrialAt = ep.retryAt
		}
		for _, u := range ep.conns {
			if u.busy > 0 {
				s.BusyConns++
			} else {
				s.IdleConns++
			}
		}
		out[i] = s
	}
	return out
}

// trials reports whether ejected endpoints come back through half-open
// trial calls: when probes are off, or stopped by Close.
func (c *Checker) trials() bool { return !c.probing || c.closed.Load() }

// changes collects the state changes a locked section made, to be reported
// once the lock is released.
type changes struct {
	events []StateChange
}

func (c *Checker) setStateLocked(ch *changes, ep *endpoint, to State, reason string, now time.Time) {
	from := ep.state
	ep.state = to
	if to == StateInService {
		ep.reason = ""
	} else {
		ep.reason = reason
	}
	if from != to && (c.onChange != nil || c.log != nil) {
		ch.events = append(ch.events, StateChange{Endpoint: ep.display, From: from, To: to, Reason: reason, Time: now})
	}
}

// ejectLocked takes ep out of service, closes its idle connections and, with
// probes off, sets when its trial call may go.
func (c *Checker) ejectLocked(ch *changes, ep *endpoint, reason string, now time.Time) {
	ep.ejections++
	ep.trial = false
	event := reason
	if c.trials() {
		if !ep.restoredAt.IsZero() && now.Sub(ep.restoredAt) >= c.maxCooldown {
			ep.streak = 0
		}
		ep.streak++
		d := c.cooldown
		for i := 1; i < ep.streak && d < c.maxCooldown; i++ {
			d *= 2
		}
		d = min(d, c.maxCooldown)
		ep.retryAt = now.Add(d)
		event = fmt.Sprintf("%s; trial after %v", reason, d)
	}
	c.setStateLocked(ch, ep, StateEjected, event, now)
	ep.reason = reason
	ejectConnsLocked(ep)
}

func (c *Checker) restoreLocked(ch *changes, ep *endpoint, reason string, now time.Time) {
	ep.failures = 0
	ep.probeFailures = 0
	ep.trial = false
	ep.restoredAt = now
	ep.retryAt = time.Time{}
	c.setStateLocked(ch, ep, StateInService, reason, now)
}

// flush acts on ch; call it without c.mu held.
func (c *Checker) flush(ch *changes) {
	for _, ev := range ch.events {
		if c.log != nil {
			level := slog.LevelInfo
			if ev.To == StateEjected {
				level = slog.LevelWarn
			}
			c.log.Log(context.Background(), level, "health: endpoint "+ev.To.String(),
				slog.String("endpoint", ev.Endpoint), slog.String("from", ev.From.String()),
				slog.String("reason", ev.Reason))
		}
		if c.onChange != nil {
			c.onChange(ev)
		}
	}
}

// outcome is what one real call says about its endpoint.
type outcome int

const (
	neutral outcome = iota // says nothing (the caller gave up)
	success                // the server answered below 500
	failure
)

// pick returns the most preferred endpoint that can take a call, skipping
// those already tried by it, and whether the call is a half-open trial. When
// there is none it returns an *UnavailableError listing why.
func (c *Checker) pick(tried []string, lastErr error) (*endpoint, bool, error) {
	var ch changes
	c.mu.Lock()
	now := c.clk.Now()
	for _, ep := range c.eps {
		if tried != nil && tried[ep.index] != "" {
			continue
		}
		switch ep.state {
		case StateInService:
			c.mu.Unlock()
			return ep, false, nil
		case StateHalfOpen:
			if !ep.trial {
				ep.trial = true
				c.mu.Unlock()
				return ep, true, nil
			}
		case StateEjected:
			if c.trials() && !now.Before(ep.retryAt) {
				ep.trial = true
				c.setStateLocked(&ch, ep, StateHalfOpen, "cooldown over, trial call", now)
				c.mu.Unlock()
				c.flush(&ch)
				return ep, true, nil
			}
		}
	}
	err := &UnavailableError{Endpoints: make([]OutEndpoint, len(c.eps)), Err: lastErr}
	for i, ep := range c.eps {
		o := OutEndpoint{Endpoint: ep.display}
		switch {
		case tried != nil && tried[i] != "":
			o.Reason = "this call: " + tried[i]
		case ep.state == StateHalfOpen:
			o.Reason = "half-open, trial call in flight"
		case c.trials():
			o.Reason = fmt.Sprintf("ejected: %s; trial in %v", ep.reason, ep.retryAt.Sub(now).Round(time.Millisecond))
		default:
			o.Reason = "ejected: " + ep.reason
		}
		err.Endpoints[i] = o
	}
	c.mu.Unlock()
	return nil, false, err
}

// record counts the result of a real call to ep.
func (c *Checker) record(ep *endpoint, trial bool, o outcome, reason string) {
	var ch changes
	c.mu.Lock()
	now := c.clk.Now()
	switch o {
	case neutral:
		if trial {
			ep.trial = false
		}
	case success:
		ep.failures = 0
		if trial && ep.state == StateHalfOpen {
			c.restoreLocked(&ch, ep, "trial call succeeded", now)
		}
	case failure:
		ep.failures++
		switch {
		case trial && ep.state == StateHalfOpen:
			c.ejectLocked(&ch, ep, "trial call failed: "+reason, now)
		case ep.state == StateInService && c.callFailures > 0 && ep.failures >= c.callFailures:
			c.ejectLocked(&ch, ep, fmt.Sprintf("%d failed calls in a row, last: %s", ep.failures, reason), now)
		}
	}
	c.mu.Unlock()
	c.flush(&ch)
}
