package testserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxBody bounds the request body the server reads and records.
const maxBody = 32 << 20

// api is the kind of endpoint a request is for.
type api int

const (
	apiOther     api = iota // /health, /v1/models, unknown paths
	apiChat                 // POST /v1/chat/completions
	apiResponses            // POST /v1/responses
	apiMessages             // POST /v1/messages
)

func apiOf(method, path string) api {
	if method != http.MethodPost {
		return apiOther
	}
	switch path {
	case "/v1/chat/completions":
		return apiChat
	case "/v1/responses":
		return apiResponses
	case "/v1/messages":
		return apiMessages
	}
	return apiOther
}

// apiRequest holds the fields of a request body the server acts on.
type apiRequest struct {
	Model               string `json:"model"`
	Stream              bool   `json:"stream"`
	MaxTokens           *int   `json:"max_tokens"`
	MaxCompletionTokens *int   `json:"max_completion_tokens"`
	MaxOutputTokens     *int   `json:"max_output_tokens"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Reasoning *struct {
		Effort string `json:"effort"`
	} `json:"reasoning"`
	Thinking *struct {
		Type string `json:"type"`
	} `json:"thinking"`
}

func (r *apiRequest) tokens() int {
	for _, p := range []*int{r.MaxTokens, r.MaxCompletionTokens, r.MaxOutputTokens} {
		if p != nil && *p > 0 {
			return min(*p, maxTokens)
		}
	}
	return DefaultTokens
}

func (r *apiRequest) wantsReasoning() bool {
	return (r.Reasoning != nil && r.Reasoning.Effort != "none") ||
		(r.Thinking != nil && r.Thinking.Type == "enabled")
}

// promptTokens estimates the prompt's tokens from the body: about four bytes
// a token, as OpenAI's rule of thumb goes.
func promptTokens(body []byte) int { return max(1, (len(body)+3)/4) }

// ServeHTTP answers one request. It is the Server's http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tc, _ := r.Context().Value(connKey{}).(*trackedConn)
	if !s.enter() {
		if tc != nil {
			tc.Close()
		}
		return
	}
	defer s.leave()
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	var onConn int64
	if tc != nil {
		onConn = tc.requests.Add(1)
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	received := s.now()
	s.requests.Add(1)
	s.countPath(r.URL.Path)
	s.record(r, body, tc, received)
	if r.URL.Path == RealtimePath {
		s.serveRealtime(w, r, tc)
		return
	}

	kind := apiOf(r.Method, r.URL.Path)
	f, ferr := s.faultFor(r, kind)

	h := w.Header()
	if r.ProtoMajor == 1 && s.cfg.KeepAliveTimeout > 0 {
		// nginx's hint, so a client can close idle connections before we do.
		h["Keep-Alive"] = []string{"timeout=" + strconv.Itoa(max(1, int(s.cfg.KeepAliveTimeout/time.Second)))}
	}
	if s.cfg.MaxRequestsPerConn > 0 && onConn >= int64(s.cfg.MaxRequestsPerConn) {
		// HTTP/1.1 closes after this response; HTTP/2 sends GOAWAY.
		h["Connection"] = []string{"close"}
	}
	reqID := "req_" + strconv.FormatInt(s.nextID.Add(1), 10)
	if kind == apiMessages {
		h["Request-Id"] = []string{reqID}
	} else {
		h["X-Request-Id"] = []string{reqID}
	}

	var (
		req  apiRequest
		perr error
		rl   rlState
	)
	if kind != apiOther {
		if perr = json.Unmarshal(body, &req); perr == nil && req.Model == "" {
			req.Model = "testserver-model"
		}
		rl = s.limiter.take(received, promptTokens(body)+req.tokens())
		rl.setHeaders(h, kind == apiMessages)
	}
	for k, v := range f.Header {
		h.Set(k, v)
	}

	a := answer{s: s, w: w, r: r, tc: tc, f: &f, kind: kind, reqID: reqID}
	if !a.sleep(f.HeaderDelay) {
		return
	}
	if f.Close == CloseBeforeHeaders {
		a.abort()
		return
	}
	switch {
	case ferr != nil:
		a.f = &Fault{}
		a.status(http.StatusBadRequest, errorBody(kind, http.StatusBadRequest, "", "testserver: bad "+FaultHeader+": "+ferr.Error(), reqID))
	case rl.limited:
		code := "requests"
		if rl.limitedByTokens {
			code = "tokens"
		}
		a.status(http.StatusTooManyRequests, errorBody(kind, http.StatusTooManyRequests, code, "", reqID))
	case f.Status != 0:
		a.status(f.Status, faultBody(kind, f.Status, f.Body, reqID))
	case kind == apiOther:
		a.other()
	case perr != nil:
		a.status(http.StatusBadRequest, errorBody(kind, http.StatusBadRequest, "", "We could not parse the JSON body of your request.", reqID))
	default:
		a.completion(&req, body)
	}
}

func (s *Server) countPath(path string) {
	c, ok := s.byPath.Load(path)
	if !ok {
		c, _ = s.byPath.LoadOrStore(path, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

func (s *Server) record(r *http.Request, body []byte, tc *trackedConn, received time.Time) {
	rec := Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		Header:   r.Header.Clone(),
		Body:     body,
		Proto:    r.Proto,
		Received: received,
	}
	if tc != nil {
		rec.ConnID = tc.id
	}
	s.logMu.Lock()
	s.log = append(s.log, rec)
	s.logMu.Unlock()
}

// faultFor picks the request's fault: its FaultHeader, else the script's
// entry for API requests, else Config.Default.
func (s *Server) faultFor(r *http.Request, kind api) (Fault, error) {
	if v := r.Header.Get(FaultHeader); v != "" {
		var f Fault
		err := json.Unmarshal([]byte(v), &f)
		if kind != apiOther {
			s.script.Load().n.Add(1) // the script counts every API request
		}
		return f, err
	}
	if kind != apiOther {
		sc := s.script.Load()
		if i := sc.n.Add(1) - 1; i < int64(len(sc.faults)) {
			return sc.faults[i], nil
		}
	}
	return s.cfg.Default, nil
}

// answer writes one response, applying its fault.
type answer struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	tc    *trackedConn
	f     *Fault
	kind  api
	reqID string
	timer *time.Timer
}

// sleep waits d; false means the client went away or the server is closing.
func (a *answer) sleep(d time.Duration) bool {
	ctx := a.r.Context()
	if d <= 0 {
		return ctx.Err() == nil
	}
	if a.timer == nil {
		a.timer = time.NewTimer(d)
	} else {
		a.timer.Reset(d)
	}
	select {
	case <-a.timer.C:
		return true
	case <-ctx.Done():
	case <-a.s.done:
	}
	a.timer.Stop()
	return false
}

// waitGone waits until the client goes away or the server closes.
func (a *answer) waitGone() {
	select {
	case <-a.r.Context().Done():
	case <-a.s.done:
	}
}

func (a *answer) ctx() context.Context { return a.r.Context() }

// abort drops the connection. Over HTTP/2 this drops the whole connection
// with every stream on it, not just this request's stream.
func (a *answer) abort() {
	if a.tc == nil {
		return
	}
	if a.r.ProtoMajor == 2 {
		a.tc.awaitWrite(a.s.done)
	}
	a.tc.abort(a.f.Reset)
}

// setDefault sets a header the fault's Header has not set.
func (a *answer) setDefault(key, value string) {
	h := a.w.Header()
	if _, ok := h[key]; !ok {
		h[key] = []string{value}
	}
}

func (a *answer) flush() bool {
	return http.NewResponseController(a.w).Flush() == nil
}

// status answers with a status and a JSON body, applying the fault's close
// modes to it.
func (a *answer) status(code int, body []byte) {
	a.setDefault("Content-Type", "application/json")
	// Stalls, first-token delays and truncation are for completions; an
	// error body or a probe's answer only honours the close modes.
	f := *a.f
	f.FirstTokenDelay, f.StallAfter, f.Truncate = 0, 0, false
	a.f = &f
	a.writeBody(code, body)
}

// writeBody writes a non-streamed body. Faults split it: a CloseMidStream,
// stall or Truncate acts half way through.
func (a *answer) writeBody(code int, body []byte) {
	f := a.f
	plain := f.Close == CloseNone && f.FirstTokenDelay == 0 && f.StallAfter == 0 && !f.Truncate
	if plain {
		a.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		a.w.WriteHeader(code)
		a.w.Write(body)
		return
	}
	a.w.WriteHeader(code)
	if !a.flush() {
		return
	}
	if f.Close == CloseAfterHeaders {
		a.abort()
		return
	}
	if !a.sleep(f.FirstTokenDelay) {
		return
	}
	if f.Close != CloseMidStream && f.StallAfter == 0 && !f.Truncate {
		a.w.Write(body)
		return
	}
	half := len(body) / 2
	a.w.Write(body[:half])
	if !a.flush() {
		return
	}
	if f.StallAfter > 0 {
		if f.StallFor > 0 {
			if !a.sleep(f.StallFor) {
				return
			}
		} else if f.Close != CloseMidStream && !f.Truncate {
			a.waitGone()
			return
		}
	}
	switch {
	case f.Close == CloseMidStream:
		a.abort()
	case f.Truncate:
	default:
		a.w.Write(body[half:])
	}
}

// other answers /health, /v1/models and unknown paths.
func (a *answer) other() {
	r := a.r
	var body []byte
	code := http.StatusOK
	switch {
	case r.URL.Path == "/health":
		body = []byte(`{"status":"ok"}`)
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		body = modelsBody(a.s.now())
	case r.URL.Path == "/v1/models" || isAPIPath(r.URL.Path):
		code = http.StatusMethodNotAllowed
		body = errorBody(apiOther, code, "", "Method "+r.Method+" not allowed.", a.reqID)
	default:
		code = http.StatusNotFound
		body = errorBody(apiOther, code, "", "Unknown request URL: "+r.Method+" "+r.URL.Path+".", a.reqID)
	}
	a.status(code, body)
}

func isAPIPath(p string) bool {
	return p == "/v1/chat/completions" || p == "/v1/responses" || p == "/v1/messages"
}

func modelsBody(now time.Time) []byte {
	b := []byte(`{"object":"list","data":[`)
	for i, m := range []string{"testserver-model", "gpt-4o-mini", "claude-sonnet-4-5"} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = append(b, m...)
		b = append(b, `","object":"model","created":`...)
		b = strconv.AppendInt(b, now.Unix(), 10)
		b = append(b, `,"owned_by":"testserver"}`...)
	}
	return append(b, `]}`...)
}

// completion answers an API request normally, streamed or not.
func (a *answer) completion(req *apiRequest, body []byte) {
	st := newStream(a, req, body)
	if st.streaming {
		st.run()
		return
	}
	a.setDefault("Content-Type", "application/json")
	a.writeBody(http.StatusOK, st.json())
}

// errorBody is an API-shaped JSON error for status: OpenAI's
// {"error":{...}} or Anthropic's {"type":"error","error":{...}}. code, when
// set, replaces the status's usual error type/code; msg its message.
func errorBody(kind api, status int, code, msg, reqID string) []byte {
	if kind == apiMessages {
		typ, m := anthropicError(status)
		if code != "" && code != "requests" && code != "tokens" {
			typ = code
		}
		if msg == "" {
			msg = m
		}
		type detail struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		out, _ := json.Marshal(struct {
			Type      string `json:"type"`
			Error     detail `json:"error"`
			RequestID string `json:"request_id"`
		}{"error", detail{typ, msg}, reqID})
		return out
	}
	typ, c, m := openAIError(status)
	switch code {
	case "":
	case "requests", "tokens":
		typ, c = code, "rate_limit_exceeded"
		m = "Rate limit reached for " + code + ". Please try again later."
	case "insufficient_quota":
		typ, c = code, code
		m = "You exceeded your current quota, please check your plan and billing details."
	default:
		typ, c = code, code
	}
	if msg == "" {
		msg = m
	}
	var codeVal *string
	if c != "" {
		codeVal = &c
	}
	type detail struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	out, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{detail{msg, typ, nil, codeVal}})
	return out
}

// faultBody is Fault.Body, or an API-shaped error when it is empty or a bare
// error code.
func faultBody(kind api, status int, body, reqID string) []byte {
	if body == "" || isCode(body) {
		return errorBody(kind, status, body, "", reqID)
	}
	return []byte(body)
}

func isCode(s string) bool {
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") == ""
}

func openAIError(status int) (typ, code, msg string) {
	switch status {
	case 400:
		return "invalid_request_error", "", "Invalid request."
	case 401:
		return "invalid_request_error", "invalid_api_key", "Incorrect API key provided."
	case 403:
		return "invalid_request_error", "unsupported_country_region_territory", "Country, region, or territory not supported."
	case 404:
		return "invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."
	case 429:
		return "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."
	case 503:
		return "server_error", "", "The engine is currently overloaded, please try again later."
	}
	if status >= 500 {
		return "server_error", "", "The server had an error while processing your request. Sorry about that!"
	}
	return "invalid_request_error", "", http.StatusText(status)
}

func anthropicError(status int) (typ, msg string) {
	switch status {
	case 400:
		return "invalid_request_error", "Invalid request."
	case 401:
		return "authentication_error", "invalid x-api-key"
	case 403:
		return "permission_error", "Your API key does not have permission to use the specified resource."
	case 404:
		return "not_found_error", "The requested resource could not be found."
	case 413:
		return "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case 429:
		return "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."
	case 504:
		return "timeout_error", "Request timed out."
	case 529:
		return "overloaded_error", "Overloaded"
	}
	if status >= 500 {
		return "api_error", "Internal server error"
	}
	return "invalid_request_error", http.StatusText(status)
}
