package testserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// RealtimePath is the WebSocket endpoint speaking OpenAI's Realtime event
// flow: GET /v1/realtime with an Upgrade: websocket handshake, over ws:// or
// wss:// (the TLS protocol; Go's client upgrades over HTTP/1.1 there).
//
// On connect the server sends session.created. session.update is answered
// by session.updated; response.create by response.created, then
// response.output_text.delta events of [Tokens](n) paced by TokensPerSecond
// (n from the event's response.max_output_tokens, else DefaultTokens),
// response.output_text.done and response.done (with usage);
// response.cancel ends the response in flight with status "cancelled"; any
// other event gets an "error" event. Pings are answered.
//
// A connection's fault is its handshake's [FaultHeader], else the next
// entry of the script set by [Server.SetRealtimeScript], else
// Config.Default; [RealtimeFaultHeader] adds WebSocket-only faults. Of a
// Fault it honours: Status and Body (the handshake is refused with that
// status and an API-shaped JSON error), Header, HeaderDelay,
// CloseBeforeHeaders (drop the connection instead of answering the
// handshake), CloseAfterHeaders (drop it right after session.created),
// CloseMidStream (drop it after StallAfter deltas of the first response, or
// half way) with Reset, StallAfter/StallFor (the first response stalls;
// StallPings sends {"type":"ping"} events every StallEvery meanwhile),
// ErrorEvent, TokensPerSecond and FirstTokenDelay (before response.created).
const RealtimePath = "/v1/realtime"

// RealtimeFaultHeader is a handshake header carrying a JSON [RealtimeFault]
// for the connection (MaxAge in nanoseconds, Fault as FaultHeader encodes
// it); without a "Fault" member the connection keeps the Fault it had.
const RealtimeFaultHeader = "X-Testserver-Realtime-Fault"

// RealtimeFault holds the faults that only a WebSocket connection has.
type RealtimeFault struct {
	Fault Fault // the HTTP fault, with the meanings listed at RealtimePath

	// IgnorePings: the server reads and answers events but no ping.
	IgnorePings bool

	// Deaf: after the handshake the server neither reads nor sends
	// anything, not even session.created: no pong, no answer to a close
	// frame. A dead peer behind a NAT looks like this.
	Deaf bool

	// OversizeBytes > 0: right after session.created the server sends a
	// text event this long.
	OversizeBytes int

	// MaxAge > 0: the server closes the session this long after it began
	// with code 1001, as OpenAI Realtime does after 60 minutes.
	MaxAge time.Duration
}

type realtimeScript struct {
	mu     sync.Mutex
	faults []RealtimeFault
	n      int
}

// realtimeScripts maps a *Server to its script. It lives outside Server so
// that the WebSocket endpoint stays in files of its own.
var realtimeScripts sync.Map

// SetRealtimeScript sets the faults of the next connections to
// RealtimePath, one per connection in arrival order; after them, connections
// get Config.Default. A handshake's FaultHeader or RealtimeFaultHeader wins
// over the script but uses up its entry.
func (s *Server) SetRealtimeScript(faults ...RealtimeFault) {
	realtimeScripts.Store(s, &realtimeScript{faults: append([]RealtimeFault(nil), faults...)})
}

func (s *Server) realtimeFault(r *http.Request) (RealtimeFault, error) {
	var f RealtimeFault
	var scripted bool
	if v, ok := realtimeScripts.Load(s); ok {
		sc := v.(*realtimeScript)
		sc.mu.Lock()
		if sc.n < len(sc.faults) {
			f, scripted = sc.faults[sc.n], true
		}
		sc.n++
		sc.mu.Unlock()
	}
	if !scripted {
		f = RealtimeFault{Fault: s.cfg.Default}
	}
	if v := r.Header.Get(FaultHeader); v != "" {
		f = RealtimeFault{}
		if err := json.Unmarshal([]byte(v), &f.Fault); err != nil {
			return f, err
		}
	}
	if v := r.Header.Get(RealtimeFaultHeader); v != "" {
		base := f.Fault
		f = RealtimeFault{}
		if err := json.Unmarshal([]byte(v), &f); err != nil {
			return f, err
		}
		if !strings.Contains(v, `"Fault"`) {
			f.Fault = base
		}
	}
	return f, nil
}

// serveRealtime answers one connection to RealtimePath.
func (s *Server) serveRealtime(w http.ResponseWriter, r *http.Request, tc *trackedConn) {
	reqID := "req_" + strconv.FormatInt(s.nextID.Add(1), 10)
	w.Header().Set("X-Request-Id", reqID)
	f, ferr := s.realtimeFault(r)
	for k, v := range f.Fault.Header {
		w.Header().Set(k, v)
	}
	a := answer{s: s, w: w, r: r, tc: tc, f: &f.Fault, kind: apiChat, reqID: reqID}
	if !a.sleep(f.Fault.HeaderDelay) {
		return
	}
	switch {
	case ferr != nil:
		a.f = &Fault{}
		a.status(http.StatusBadRequest, errorBody(apiChat, http.StatusBadRequest, "", "testserver: bad fault header: "+ferr.Error(), reqID))
		return
	case f.Fault.Close == CloseBeforeHeaders:
		a.abort()
		return
	case f.Fault.Status != 0:
		a.status(f.Fault.Status, faultBody(apiChat, f.Fault.Status, f.Fault.Body, reqID))
		return
	}
	opts := &websocket.AcceptOptions{}
	if f.IgnorePings {
		opts.OnPingReceived = func(context.Context, []byte) bool { return false }
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(maxBody)
	// The request's context ends when the handler returns; the server's
	// done channel must end the session too.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-s.done:
			cancel()
		case <-stop:
		}
	}()
	rt := &realtime{s: s, c: c, ctx: ctx, f: f, tc: tc, sid: "sess_" + reqID, started: time.Now()}
	rt.run()
	rt.wg.Wait()
}

type realtime struct {
	s       *Server
	c       *websocket.Conn
	ctx     context.Context
	f       RealtimeFault
	tc      *trackedConn
	sid     string
	started time.Time
	seq     int64
	seqMu   sync.Mutex
	wg      sync.WaitGroup

	respMu    sync.Mutex
	respStop  chan struct{} // closes to cancel the response in flight
	responses int
}

func (rt *realtime) send(ev map[string]any) bool {
	rt.seqMu.Lock()
	rt.seq++
	ev["event_id"] = "event_" + strconv.FormatInt(rt.seq, 10)
	rt.seqMu.Unlock()
	b, _ := json.Marshal(ev)
	return rt.c.Write(rt.ctx, websocket.MessageText, b) == nil
}

func (rt *realtime) drop() {
	if rt.tc != nil {
		rt.tc.abort(rt.f.Fault.Reset)
	} else {
		rt.c.CloseNow()
	}
}

func (rt *realtime) run() {
	if rt.f.Deaf {
		<-rt.ctx.Done()
		return
	}
	if !rt.send(map[string]any{"type": "session.created", "session": rt.session(nil)}) {
		return
	}
	if rt.f.Fault.Close == CloseAfterHeaders {
		rt.drop()
		return
	}
	if n := rt.f.OversizeBytes; n > 0 {
		pad := strings.Repeat("x", n)
		rt.send(map[string]any{"type": "response.output_text.delta", "delta": pad})
	}
	if rt.f.MaxAge > 0 {
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			t := time.NewTimer(rt.f.MaxAge)
			defer t.Stop()
			select {
			case <-t.C:
				rt.c.Close(websocket.StatusGoingAway, "session reached its maximum duration")
			case <-rt.ctx.Done():
			}
		}()
	}
	for {
		_, data, err := rt.c.Read(rt.ctx)
		if err != nil {
			rt.cancelResponse()
			return
		}
		var ev struct {
			Type     string          `json:"type"`
			Session  json.RawMessage `json:"session"`
			Response struct {
				MaxOutputTokens *int `json:"max_output_tokens"`
			} `json:"response"`
		}
		if json.Unmarshal(data, &ev) != nil {
			rt.send(rtError("invalid_json", "The event is not valid JSON."))
			continue
		}
		switch ev.Type {
		case "session.update":
			rt.send(map[string]any{"type": "session.updated", "session": rt.session(ev.Session)})
		case "response.create":
			n := DefaultTokens
			if p := ev.Response.MaxOutputTokens; p != nil && *p > 0 {
				n = min(*p, maxTokens)
			}
			rt.startResponse(n)
		case "response.cancel":
			rt.cancelResponse()
		default:
			rt.send(rtError("invalid_event", "Unsupported event type: "+ev.Type))
		}
	}
}

func rtError(code, msg string) map[string]any {
	return map[string]any{"type": "error", "error": map[string]any{"type": "invalid_request_error", "code": code, "message": msg}}
}

func (rt *realtime) session(update json.RawMessage) map[string]any {
	m := map[string]any{"id": rt.sid, "object": "realtime.session", "model": "testserver-model"}
	var u map[string]any
	if json.Unmarshal(update, &u) == nil {
		for k, v := range u {
			m[k] = v
		}
	}
	return m
}

func (rt *realtime) cancelResponse() {
	rt.respMu.Lock()
	if rt.respStop != nil {
		close(rt.respStop)
		rt.respStop = nil
	}
	rt.respMu.Unlock()
}

func (rt *realtime) startResponse(n int) {
	rt.respMu.Lock()
	defer rt.respMu.Unlock()
	if rt.respStop != nil {
		rt.send(rtError("conversation_already_has_active_response", "A response is already in progress."))
		return
	}
	rt.responses++
	stop := make(chan struct{})
	rt.respStop = stop
	faulty := rt.responses == 1 // faults act on the first response
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		status := rt.respond(n, faulty, stop)
		rt.respMu.Lock()
		if rt.respStop == stop {
			rt.respStop = nil
		}
		rt.respMu.Unlock()
		_ = status
	}()
}

// respond streams one response; it returns its final status.
func (rt *realtime) respond(n int, faulty bool, stop chan struct{}) string {
	f := Fault{}
	if faulty {
		f = rt.f.Fault
	}
	id := "resp_" + strconv.FormatInt(rt.s.nextID.Add(1), 10)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-stop:
		case <-rt.ctx.Done():
		}
		timer.Stop()
		return false
	}
	// FirstTokenDelay holds back every event of the response, as a server
	// that takes long to start answering would.
	if !wait(f.FirstTokenDelay) {
		return rt.done(stop, id, "cancelled", 0)
	}
	if !rt.send(map[string]any{"type": "response.created", "response": map[string]any{"id": id, "object": "realtime.response", "status": "in_progress"}}) {
		return "failed"
	}
	if f.ErrorEvent && f.StallAfter == 0 {
		rt.send(map[string]any{"type": "error", "error": map[string]any{"type": "server_error", "code": "server_error", "message": "The server had an error while processing your request."}})
		return "failed"
	}
	tps := rt.s.cfg.TokensPerSecond
	if f.TokensPerSecond > 0 {
		tps = f.TokensPerSecond
	}
	var pace time.Duration
	if tps > 0 {
		pace = time.Duration(float64(time.Second) / tps)
	}
	cut := f.StallAfter
	if cut == 0 && f.Close == CloseMidStream {
		cut = n / 2
	}
	toks := Tokens(n)
	for i, tok := range toks {
		if i > 0 && !wait(pace) {
			return rt.done(stop, id, "cancelled", i)
		}
		if cut > 0 && i == cut {
			if f.StallFor > 0 || (f.Close != CloseMidStream && !f.ErrorEvent && !f.Truncate) {
				if !rt.stall(f, stop) {
					return rt.done(stop, id, "cancelled", i)
				}
			}
			switch {
			case f.Close == CloseMidStream:
				rt.drop()
				return "dropped"
			case f.ErrorEvent:
				rt.send(map[string]any{"type": "error", "error": map[string]any{"type": "server_error", "code": "server_error", "message": "The server had an error while processing your request."}})
				return "failed"
			case f.Truncate:
				return "truncated"
			}
		}
		if !rt.send(map[string]any{"type": "response.output_text.delta", "response_id": id, "item_id": "item_" + id, "output_index": 0, "content_index": 0, "delta": tok}) {
			return "failed"
		}
	}
	if cut == 0 && f.Close == CloseMidStream {
		rt.drop()
		return "dropped"
	}
	rt.send(map[string]any{"type": "response.output_text.done", "response_id": id, "item_id": "item_" + id, "output_index": 0, "content_index": 0, "text": strings.Join(toks, "")})
	return rt.done(stop, id, "completed", n)
}

// stall holds the response for f.StallFor (0: until the client goes away),
// sending ping events meanwhile with StallPings.
func (rt *realtime) stall(f Fault, stop chan struct{}) bool {
	var end <-chan time.Time
	if f.StallFor > 0 {
		t := time.NewTimer(f.StallFor)
		defer t.Stop()
		end = t.C
	}
	var tick <-chan time.Time
	if f.StallMode == StallPings || f.StallMode == StallComments {
		every := f.StallEvery
		if every <= 0 {
			every = time.Second
		}
		tk := time.NewTicker(every)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-end:
			return true
		case <-tick:
			rt.send(map[string]any{"type": "ping"})
		case <-stop:
			return false
		case <-rt.ctx.Done():
			return false
		}
	}
}

func (rt *realtime) done(stop chan struct{}, id, status string, tokens int) string {
	// The response stops being active before response.done goes out: a
	// client may send the next response.create the moment it reads it.
	rt.respMu.Lock()
	if rt.respStop == stop {
		rt.respStop = nil
	}
	rt.respMu.Unlock()
	rt.send(map[string]any{"type": "response.done", "response": map[string]any{
		"id": id, "object": "realtime.response", "status": status,
		"usage": map[string]any{"input_tokens": 8, "output_tokens": tokens, "total_tokens": 8 + tokens},
	}})
	return status
}
