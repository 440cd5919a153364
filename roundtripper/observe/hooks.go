package observe

import (
	"crypto/tls"
	"net/http/httptrace"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// The hooks below run on whatever goroutine the transport or a layer calls
// them from, possibly after the call ended (a dial abandoned by its request
// goes on); each takes c.mu and does nothing once the report is final.

func (c *call) gotConn(info httptrace.GotConnInfo) {
	c.mu.Lock()
	if !c.done {
		c.gots++
		if !info.WasIdle {
			// It was not taken from the idle pool at once, so a dial may
			// have started for this request and may still call hooks.
			c.mayDial = true
		}
		a := c.cur()
		a.GotConn = c.off()
		a.Reused = info.Reused
		a.WasIdle = info.WasIdle
		a.IdleTime = info.IdleTime
		if info.Conn != nil {
			a.RemoteAddr = info.Conn.RemoteAddr()
		}
	}
	c.mu.Unlock()
}

func (c *call) dnsStart(httptrace.DNSStartInfo) {
	c.mu.Lock()
	c.mayDial = true
	if !c.done {
		if a := c.cur(); a.DNS.Start == 0 {
			a.DNS.Start = c.off()
		}
	}
	c.mu.Unlock()
}

func (c *call) dnsDone(info httptrace.DNSDoneInfo) {
	c.mu.Lock()
	if !c.done {
		a := c.cur()
		a.DNS.End = c.off()
		if info.Err != nil && a.Err == nil {
			a.Err = info.Err
		}
	}
	c.mu.Unlock()
}

func (c *call) connectStart(_, _ string) {
	c.mu.Lock()
	c.mayDial = true
	if !c.done {
		if a := c.cur(); a.Connect.Start == 0 {
			a.Connect.Start = c.off()
		}
	}
	c.mu.Unlock()
}

func (c *call) connectDone(_, _ string, err error) {
	c.mu.Lock()
	if !c.done {
		a := c.cur()
		a.Connect.End = c.off()
		if err != nil && a.Err == nil {
			a.Err = err
		}
	}
	c.mu.Unlock()
}

func (c *call) tlsStart() {
	c.mu.Lock()
	c.mayDial = true
	if !c.done {
		if a := c.cur(); a.TLS.Start == 0 {
			a.TLS.Start = c.off()
		}
	}
	c.mu.Unlock()
}

func (c *call) tlsDone(_ tls.ConnectionState, err error) {
	c.mu.Lock()
	if !c.done {
		a := c.cur()
		a.TLS.End = c.off()
		if err != nil && a.Err == nil {
			a.Err = err
		}
	}
	c.mu.Unlock()
}

func (c *call) gotFirstResponseByte() {
	c.mu.Lock()
	if !c.done {
		if a := c.cur(); a.FirstByte == 0 {
			a.FirstByte = c.off()
		}
	}
	c.mu.Unlock()
}

// attempt starts attempt n. The first attempt exists from the start of the
// call, for chains without a retrying layer; a retrying layer announcing it
// only moves its start.
func (c *call) attempt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	t := c.off()
	a := c.cur()
	if len(c.r.Attempts) == 1 && a.GotConn == 0 && a.PoolWait == 0 && a.Err == nil {
		a.N = n
		a.Start = t
		return
	}
	a.End = t
	c.r.Attempts = append(c.r.Attempts, Attempt{N: n, Start: t})
	// The call's stream is the final attempt's.
	c.r.FirstEvent, c.r.FirstToken, c.r.LastToken = 0, 0, 0
	c.r.Events, c.r.Tokens = 0, 0
	c.r.Gaps = Gaps{}
	c.endSeen = false
}

// attemptDone records what attempt n ended with.
func (c *call) attemptDone(n, status int, err error) {
	c.mu.Lock()
	if !c.done {
		for i := len(c.r.Attempts) - 1; i >= 0; i-- {
			if a := &c.r.Attempts[i]; a.N == n {
				a.Status = status
				if err != nil && a.Err == nil {
					a.Err = err
				}
				break
			}
		}
	}
	c.mu.Unlock()
}

func (c *call) retryWait(n int, d time.Duration, source string) {
	c.mu.Lock()
	if !c.done {
		a := c.cur()
		for i := len(c.r.Attempts) - 1; i >= 0; i-- {
			if c.r.Attempts[i].N == n {
				a = &c.r.Attempts[i]
				break
			}
		}
		a.RetryWait += d
		a.RetrySource = source
		c.r.RetryWait += d
	}
	c.mu.Unlock()
}

func (c *call) poolWait(d time.Duration) {
	c.mu.Lock()
	if !c.done {
		c.cur().PoolWait += d
		c.r.PoolWait += d
	}
	c.mu.Unlock()
}

func (c *call) streamEvent(content bool) {
	c.mu.Lock()
	c.streamHook = true
	if !c.done {
		t := c.off()
		r := &c.r
		r.Events++
		if r.FirstEvent == 0 {
			r.FirstEvent = t
		}
		if content {
			r.Tokens++
			if r.FirstToken == 0 {
				r.FirstToken = t
			} else {
				r.Gaps.add(t - r.LastToken)
			}
			r.LastToken = t
		}
	}
	c.mu.Unlock()
}

func (c *call) streamEnd(outcome roundtripper.StreamOutcome, err error) {
	c.mu.Lock()
	c.streamHook = true
	if !c.done {
		a := c.cur()
		a.Outcome = outcome
		if err != nil && a.Err == nil {
			a.Err = err
		}
		c.endSeen = true
	}
	c.mu.Unlock()
}
