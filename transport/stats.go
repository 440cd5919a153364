package transport

// Stats is a snapshot of a Transport's pool.
type Stats struct {
	InFlight int                  // requests holding a slot, over all hosts
	Waiting  int                  // requests waiting for a slot, over all hosts
	Hosts    map[string]HostStats // by host:port
}

// HostStats describes the traffic to one host:port.
//
// Requests are counted against the host:port of their URL; connections
// against the address dialed, which is the proxy's when a proxy is in use.
type HostStats struct {
	InFlight     int   // requests holding a slot: sent or being sent, body not yet consumed
	Waiting      int   // requests waiting for a slot
	ConnsOpened  int64 // connections dialed, ever
	PoolTimeouts int64 // requests that failed with ErrPoolTimeout
}

// Stats returns a snapshot of the pool, per host.
func (t *Transport) Stats() Stats {
	g := t.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	st := Stats{InFlight: g.inFlight, Hosts: make(map[string]HostStats, len(g.hosts))}
	for k, h := range g.hosts {
		st.Waiting += h.waiting
		st.Hosts[k] = HostStats{InFlight: h.inFlight, Waiting: h.waiting, ConnsOpened: h.opened, PoolTimeouts: h.timeouts}
	}
	return st
}
