package observe

import (
	"net"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// OutcomeUnknown is the outcome of an event stream that reached EOF when no
// layer said how it ended and observe could not tell from the body: it saw
// no terminal event it knows ("data: [DONE]", "event: message_stop",
// "event: response.completed"), so the stream may be complete in a dialect
// observe does not know, or truncated.
const OutcomeUnknown roundtripper.StreamOutcome = "unknown"

// A Report describes one call: everything between the caller's RoundTrip and
// the end of the response body, across every attempt the layers inside made.
//
// Times named as offsets are durations since Start; zero means the event did
// not happen (or was not seen). A Report never holds header values other than
// RequestID, nor the URL's query or user info.
type Report struct {
	Method string // the request's method
	Host   string // the URL's host, as in the request (host or host:port)
	Path   string // the URL's path, without query

	Start    time.Time     // when RoundTrip was called
	Duration time.Duration // until the call ended: RoundTrip's error, the body's EOF or its Close

	Status    int    // the final response's status code; zero when RoundTrip failed
	Proto     string // the final response's protocol, such as "HTTP/1.1" or "HTTP/2.0"
	RequestID string // the server's x-request-id or request-id (at most 128 bytes); empty if none
	Err       error  // RoundTrip's error, or the body's read error (not io.EOF); nil otherwise

	// Attempts has one entry per attempt, in order. Without a retrying
	// layer there is exactly one.
	Attempts []Attempt

	RetryWait time.Duration // total time the retrying layer waited between attempts
	PoolWait  time.Duration // total time spent waiting for a connection slot, over all attempts

	RequestBytes int64 // the request body's length: -1 when unknown
	BytesRead    int64 // bytes of the final response body the caller read

	// Stream is true for an event stream: a text/event-stream response, or a
	// call during which a layer reported stream events. The fields below are
	// about the final attempt's stream.
	Stream bool

	// FirstByte is the offset at which the caller read the first byte of
	// the stream's body: the first event as the caller sees it, with or
	// without a stream layer. (Not measured for other calls, whose time to
	// headers is the final attempt's FirstByte.)
	FirstByte time.Duration

	// FirstEvent and FirstToken are the offsets of the first event and of
	// the first content token (text, tool-call arguments, reasoning), and
	// LastToken that of the last content token. They are measured from the
	// start of the call, retries included, as the caller lives them, and
	// need a layer inside observe that reports stream events (sse.Watchdog).
	FirstEvent time.Duration
	FirstToken time.Duration
	LastToken  time.Duration
	Events     int // events seen, content or not (pings, envelopes, comments)
	Tokens     int // content tokens seen

	// Gaps summarises the time between consecutive content tokens.
	Gaps Gaps

	// Outcome says how the stream ended; empty for a call that is not a
	// stream. It is what the stream layer reported with StreamEnd when it
	// did, else inferred from the body: a known terminal event means
	// [roundtripper.StreamCompleted], an error event
	// [roundtripper.StreamErrored], a read error StreamErrored (or
	// StreamCancelled when the caller's context ended), a Close before the
	// end StreamCancelled, and EOF with neither [OutcomeUnknown].
	Outcome roundtripper.StreamOutcome

	// Buffered is true when the stream's content tokens all arrived in one
	// burst at the end, the mark of a proxy that buffers event streams and
	// turns time to first token into total time: at least 8 tokens, the
	// first of them at 90% or more of the time from the attempt's start to
	// the last, and less than 2ms between tokens on average. Without a
	// layer reporting tokens, the same rule applies to the events the
	// caller read from the body (counted at blank lines). Either way the
	// times are those at which the caller read: a caller that starts
	// reading late sees a burst too.
	Buffered bool
}

// An Attempt describes one attempt of a call: one trip through the
// transport. Its offsets are durations since the call's Start.
type Attempt struct {
	N     int           // the attempt's number, from 1
	Start time.Duration // offset at which the attempt began
	End   time.Duration // offset at which the next attempt began, or the call ended

	PoolWait time.Duration // time waiting for a connection slot (from the transport layer)
	GotConn  time.Duration // offset at which the transport had a connection for it

	DNS     Phase // the lookup, if this attempt dialed and resolved a name
	Connect Phase // the TCP connect, if this attempt dialed
	TLS     Phase // the TLS handshake, if this attempt dialed over TLS

	Reused     bool          // the connection had carried a request before
	WasIdle    bool          // the connection came from the idle pool
	IdleTime   time.Duration // how long it had been idle, when WasIdle
	RemoteAddr net.Addr      // the connection's peer; nil if none was obtained

	FirstByte time.Duration // offset of the first response byte: the time to headers

	// Status is the attempt's response status: the final response's for
	// the last attempt, and for earlier ones what a retrying layer
	// reported through roundtripper.Trace.AttemptDone (retry does). Zero
	// when the attempt failed with an error, or no layer said.
	Status int

	RetryWait   time.Duration // the wait the retrying layer chose after this attempt failed
	RetrySource string        // where that wait came from, such as "retry-after-ms" or "backoff"

	Outcome roundtripper.StreamOutcome // how this attempt's stream ended, as its stream layer said
	Err     error                      // the first error seen in this attempt's phases or stream
}

// TimeToHeaders is the time from the attempt's start to its first response
// byte, or zero if none came.
func (a *Attempt) TimeToHeaders() time.Duration {
	if a.FirstByte == 0 {
		return 0
	}
	return a.FirstByte - a.Start
}

// A Phase is an interval, as offsets since the call's Start. The zero Phase
// did not happen.
type Phase struct {
	Start, End time.Duration
}

// Duration is End-Start, or zero if the phase did not end.
func (p Phase) Duration() time.Duration {
	if p.End < p.Start {
		return 0
	}
	return p.End - p.Start
}

// NumGapBuckets is the number of buckets of [Gaps.Buckets].
const NumGapBuckets = 12

// gapBounds are the upper bounds of the gap buckets; the last bucket has
// none. They span what a stream shows: sub-millisecond bursts (buffered or
// batched), the 20–100ms of a healthy stream, and the seconds of a stall.
var gapBounds = [NumGapBuckets - 1]time.Duration{
	1 * time.Millisecond,
	5 * time.Millisecond,
	10 * time.Millisecond,
	25 * time.Millisecond,
	50 * time.Millisecond,
	100 * time.Millisecond,
	250 * time.Millisecond,
	500 * time.Millisecond,
	1 * time.Second,
	2500 * time.Millisecond,
	5 * time.Second,
}

// Gaps summarises the gaps between consecutive content tokens of a stream in
// fixed memory: a stream of a million tokens costs no more than one of ten.
type Gaps struct {
	Count    int           // gaps seen: Tokens-1 when there were tokens
	Min, Max time.Duration // shortest and longest gap
	Sum      time.Duration // total of the gaps

	// Buckets counts the gaps by length: Buckets[i] those no longer than
	// GapBound(i) and longer than GapBound(i-1); the last bucket those
	// longer than 5s.
	Buckets [NumGapBuckets]uint32
}

// GapBound returns the upper bound of bucket i of [Gaps.Buckets], and false
// for the last bucket, which has none.
func GapBound(i int) (time.Duration, bool) {
	if i < 0 || i >= len(gapBounds) {
		return 0, false
	}
	return gapBounds[i], true
}

// Mean is the average gap, or zero when there was none.
func (g *Gaps) Mean() time.Duration {
	if g.Count == 0 {
		return 0
	}
	return g.Sum / time.Duration(g.Count)
}

func (g *Gaps) add(d time.Duration) {
	if g.Count == 0 || d < g.Min {
		g.Min = d
	}
	if d > g.Max {
		g.Max = d
	}
	g.Count++
	g.Sum += d
	i := 0
	for i < len(gapBounds) && d > gapBounds[i] {
		i++
	}
	g.Buckets[i]++
}

// Clone returns a deep copy of r that stays valid after r is recycled; see
// [Sink].
func (r *Report) Clone() *Report {
	c := *r
	c.Attempts = append([]Attempt(nil), r.Attempts...)
	return &c
}

// Last returns the final attempt, the one whose response (or error) the
// caller got.
func (r *Report) Last() *Attempt {
	if len(r.Attempts) == 0 {
		return nil
	}
	return &r.Attempts[len(r.Attempts)-1]
}

// Failed reports whether the call went wrong: an error, a 5xx or 429 status,
// or a stream that ended otherwise than completed.
func (r *Report) Failed() bool {
	return r.Err != nil || r.Status >= 500 || r.Status == 429 ||
		(r.Outcome != "" && r.Outcome != roundtripper.StreamCompleted)
}

// Minimum token count and gap thresholds of Report.Buffered.
const (
	bufferedMinTokens = 8
	bufferedMaxMean   = 2 * time.Millisecond
)

// buffered applies the rule documented on Report.Buffered: start is the
// attempt's start, first and last the offsets of its first and last content
// tokens, all since the same origin.
func buffered(tokens int, start, first, last, meanGap time.Duration) bool {
	if tokens < bufferedMinTokens || last <= start {
		return false
	}
	return (first-start)*10 >= (last-start)*9 && meanGap < bufferedMaxMean
}
