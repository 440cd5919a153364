package health

import (
	"strconv"
	"time"
)

// State is an endpoint's place in the rotation.
type State int

const (
	// StateInService: calls may go to the endpoint.
	StateInService State = iota
	// StateEjected: the endpoint is out; probes (or, with probes off, a
	// trial call after a cooldown) decide when it returns.
	StateEjected
	// StateHalfOpen: with probes off, the cooldown has passed and one
	// trial call decides whether the endpoint returns.
	StateHalfOpen
)

// String returns "in service", "ejected" or "half-open".
func (s State) String() string {
	switch s {
	case StateInService:
		return "in service"
	case StateEjected:
		return "ejected"
	case StateHalfOpen:
		return "half-open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// ProbeOutcome classifies a probe's answer.
type ProbeOutcome int

const (
	// ProbeNone: no probe has finished yet.
	ProbeNone ProbeOutcome = iota
	// ProbePassed: an answer below 500 other than 401/403.
	ProbePassed
	// ProbeUnauthorized: 401 or 403. The server is up, so the probe
	// passes, but the credentials in ProbeHeader are wrong or missing.
	ProbeUnauthorized
	// ProbeFailed: a 5xx (529 included), a timeout or a connection error.
	ProbeFailed
)

// String returns "none", "passed", "unauthorized" or "failed".
func (o ProbeOutcome) String() string {
	switch o {
	case ProbeNone:
		return "none"
	case ProbePassed:
		return "passed"
	case ProbeUnauthorized:
		return "unauthorized"
	case ProbeFailed:
		return "failed"
	}
	return "ProbeOutcome(" + strconv.Itoa(int(o)) + ")"
}

// ProbeResult is the result of one probe.
type ProbeResult struct {
	Time    time.Time     // when it was sent; zero when no probe has finished
	Outcome ProbeOutcome  // what it means for the endpoint
	Status  int           // the HTTP status; 0 when no answer came
	Latency time.Duration // from sending it to reading its answer
	Err     string        // why it failed without an answer, e.g. "timeout after 5s"
}

// EndpointStats is a snapshot of one endpoint.
type EndpointStats struct {
	Endpoint string // the base URL, without userinfo or query
	State    State  // in service, ejected or on trial
	// Reason says why the endpoint is out; empty while in service.
	Reason string
	// ConsecutiveFailures counts the real calls that failed in a row.
	ConsecutiveFailures int
	// ConsecutiveProbeFailures counts the probes that failed in a row.
	ConsecutiveProbeFailures int
	// LastProbe is the last finished probe; its Outcome is ProbeNone when
	// there was none.
	LastProbe ProbeResult
	// Ejections counts how many times the endpoint was taken out.
	Ejections int
	// TrialAt is when a trial call may next go to an ejected endpoint
	// (probes off); zero otherwise.
	TrialAt time.Time
	// IdleConns and BusyConns count the connections the checker has seen
	// carry this endpoint's calls and probes and not yet closed itself;
	// the pool may have closed some of the idle ones already.
	IdleConns, BusyConns int
}

// StateChange describes one change of an endpoint's state.
type StateChange struct {
	Endpoint string    // the base URL, without userinfo or query
	From, To State     // the state left and the state entered
	Reason   string    // e.g. "5 failed calls in a row, last: status 503" or "probe passed"
	Time     time.Time // when the change happened
}
