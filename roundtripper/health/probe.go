package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// maxDrain bounds how much of a probe's answer is read so that its
// connection goes back to the pool.
const maxDrain = 64 << 10

// probeLoop probes ep at once (the warm-up round), then every jittered
// interval until Close.
func (c *Checker) probeLoop(ep *endpoint) {
	defer c.wg.Done()
	wake := make(chan struct{}, 1)
	for {
		c.probe(ep)
		stop := c.clk.AfterFunc(c.jittered(), func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		select {
		case <-c.stop:
			stop()
			return
		case <-wake:
		}
	}
}

// jittered returns the interval ±10%, so replicas started together are not
// probed in lockstep.
func (c *Checker) jittered() time.Duration {
	spread := int64(c.interval / 5)
	if spread <= 0 {
		return c.interval
	}
	return c.interval - c.interval/10 + time.Duration(rand.Int64N(spread+1))
}

// probe sends one probe to ep and records its result.
func (c *Checker) probe(ep *endpoint) {
	if c.closed.Load() {
		return
	}
	// Close does not cancel a probe in flight: its request may already be
	// on the wire, and a server should see no probe once Close returns.
	// The probe's own timeout bounds the wait.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var timedOut atomic.Bool
	stop := c.clk.AfterFunc(c.timeout, func() {
		timedOut.Store(true)
		cancel()
	})
	defer stop()

	start := c.clk.Now()
	res := ProbeResult{Time: start}
	var (
		resp *http.Response
		err  error
	)
	for try := 0; ; try++ {
		resp, err = c.probeOnce(ctx, ep)
		if resp != nil || try > 0 || timedOut.Load() || !errors.Is(err, errClosedUnder) {
			break
		}
		// The pool handed the probe a connection that was closed under
		// it (by the server, or by this checker at an ejection): that
		// says nothing about the endpoint yet. Once more, on a fresh one.
	}
	res.Latency = c.clk.Now().Sub(start)
	switch {
	case err != nil && timedOut.Load():
		res.Outcome, res.Err = ProbeFailed, fmt.Sprintf("timeout after %v", c.timeout)
	case err != nil:
		res.Outcome, res.Err = ProbeFailed, errReason(err)
	case failedStatus(resp.StatusCode):
		res.Outcome, res.Status = ProbeFailed, resp.StatusCode
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		res.Outcome, res.Status = ProbeUnauthorized, resp.StatusCode
	default:
		res.Outcome, res.Status = ProbePassed, resp.StatusCode
	}
	c.recordProbe(ep, res)
}

// errClosedUnder marks a probe that met a pooled connection closed under it.
var errClosedUnder = errors.New("health: pooled connection closed under the probe")

// probeOnce sends one probe request and reads its answer. The response it
// returns has its body drained and closed; only its status is of use.
func (c *Checker) probeOnce(ctx context.Context, ep *endpoint) (*http.Response, error) {
	a, ctx := c.newAttempt(ctx, ep)
	req, err := http.NewRequestWithContext(ctx, c.probeMethod, ep.probeURL, nil)
	if err != nil {
		// New checked the method and URL; this is only a safety net.
		a.release(false)
		return nil, err
	}
	req.Header = c.probeHeader.Clone()
	resp, err := c.transport.RoundTrip(req)
	if err == nil {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		_ = resp.Body.Close()
	}
	a.release(false)
	if err != nil && a.closedUnder(err) {
		return nil, fmt.Errorf("%w: %w", errClosedUnder, err)
	}
	return resp, err
}

// failedStatus reports whether an answer with this status counts against
// the endpoint: any 5xx, 529 (Anthropic's "overloaded") included. A 429 does
// not: the server is alive and asks us to slow down.
func failedStatus(code int) bool { return code >= 500 && code <= 599 }

func (r ProbeResult) reason() string {
	if r.Err != "" {
		return r.Err
	}
	return fmt.Sprintf("status %d", r.Status)
}

func (c *Checker) recordProbe(ep *endpoint, res ProbeResult) {
	var ch changes
	c.mu.Lock()
	wasUnauthorized := ep.lastProbe.Outcome == ProbeUnauthorized
	ep.lastProbe = res
	now := c.clk.Now()
	if res.Outcome == ProbeFailed {
		ep.probeFailures++
		if ep.state == StateInService && ep.probeFailures >= c.probeFailures {
			c.ejectLocked(&ch, ep, fmt.Sprintf("%d failed probes in a row, last: %s", ep.probeFailures, res.reason()), now)
		}
	} else {
		ep.probeFailures = 0
		if ep.state != StateInService {
			c.restoreLocked(&ch, ep, "probe passed: "+res.reason(), now)
		}
	}
	display := ep.display
	c.mu.Unlock()
	c.flush(&ch)
	if res.Outcome == ProbeUnauthorized && !wasUnauthorized && c.log != nil {
		c.log.Warn("health: probe credentials rejected; the endpoint stays in service",
			slog.String("endpoint", display), slog.Int("status", res.Status))
	}
}
