package testserver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// stream writes one completion in its API's shape, streamed as SSE or as one
// JSON body. Events are built in one reused buffer; a token costs no
// allocation of its own.
type stream struct {
	*answer
	rc           *http.ResponseController
	buf          []byte
	streaming    bool
	id           string // completion ID without its API prefix
	model        []byte // JSON string
	created      int64
	n, nr        int // text tokens, reasoning tokens
	prompt       int
	includeUsage bool
	seq          int  // Responses sequence_number
	pinged       bool // Anthropic: the ping after the first content block is out
	interval     time.Duration
	next         time.Time
	failed       bool
}

func newStream(a *answer, req *apiRequest, body []byte) *stream {
	st := &stream{
		answer:    a,
		streaming: req.Stream,
		id:        a.reqID[len("req_"):],
		created:   a.s.now().Unix(),
		n:         req.tokens(),
		prompt:    promptTokens(body),
	}
	st.model, _ = json.Marshal(req.Model)
	st.nr = a.f.Reasoning
	if st.nr <= 0 && req.wantsReasoning() {
		st.nr = DefaultReasoning
	}
	st.nr = min(st.nr, maxTokens)
	st.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	tps := a.s.cfg.TokensPerSecond
	if a.f.TokensPerSecond > 0 {
		tps = a.f.TokensPerSecond
	}
	if tps > 0 {
		st.interval = time.Duration(float64(time.Second) / tps)
	}
	return st
}

// emit sends the buffer as one write and flushes it.
func (st *stream) emit() bool {
	if st.failed {
		return false
	}
	if _, err := st.w.Write(st.buf); err != nil {
		st.failed = true
		return false
	}
	if err := st.rc.Flush(); err != nil {
		st.failed = true
	}
	st.buf = st.buf[:0]
	return !st.failed
}

// pace waits for the next token's slot under TokensPerSecond. Slots are
// counted from the first token, so pacing does not drift with write time.
func (st *stream) pace() bool {
	if st.interval <= 0 {
		return st.ctx().Err() == nil
	}
	now := time.Now()
	if st.next.IsZero() {
		st.next = now
		return true
	}
	st.next = st.next.Add(st.interval)
	return st.sleep(st.next.Sub(now))
}

func (st *stream) run() {
	f := st.f
	st.rc = http.NewResponseController(st.w)
	st.setDefault("Content-Type", "text/event-stream; charset=utf-8")
	st.setDefault("Cache-Control", "no-cache")
	st.w.WriteHeader(http.StatusOK)
	if st.rc.Flush() != nil {
		return
	}
	if f.Close == CloseAfterHeaders {
		st.abort()
		return
	}
	if !st.sleep(f.FirstTokenDelay) {
		return
	}
	st.begin()
	if f.ErrorEvent && f.StallAfter <= 0 {
		st.errorEvent()
		return
	}
	if st.nr > 0 {
		st.reasoningBegin()
		for i := range st.nr {
			if !st.pace() {
				return
			}
			st.reasoningDelta(reasoningTokens.token(i))
			if st.failed {
				return
			}
		}
		st.reasoningEnd()
	}
	st.textBegin()
	cut := st.n
	if f.StallAfter > 0 {
		cut = min(f.StallAfter, st.n)
	} else if f.Close == CloseMidStream {
		cut = st.n / 2
	}
	for i := 0; i <= st.n; i++ {
		if i == cut && !st.interrupt(i == st.n) {
			return
		}
		if i == st.n {
			break
		}
		if !st.pace() {
			return
		}
		st.textDelta(textTokens.token(i))
		if st.failed {
			return
		}
	}
	st.textEnd()
	st.finish()
	if f.Truncate || st.failed {
		return
	}
	st.terminal()
}

// interrupt applies the fault's mid-stream part at the cut point; false
// means the stream ends here.
func (st *stream) interrupt(atEnd bool) bool {
	f := st.f
	// With nothing else to do at the cut, a stall without an end lasts until
	// the client goes away.
	endless := f.StallFor <= 0 && f.Close != CloseMidStream && !f.ErrorEvent && !f.Truncate
	if f.StallAfter > 0 && (f.StallFor > 0 || endless) {
		if !st.stall(f.StallFor) {
			return false
		}
		st.next = time.Time{}
	}
	switch {
	case f.Close == CloseMidStream:
		st.abort()
		return false
	case f.ErrorEvent:
		st.errorEvent()
		return false
	case f.Truncate && !atEnd:
		return false
	}
	return !st.failed
}

// stall sends nothing but comments or pings (per StallMode) for d, or until
// the client goes away when d is 0; false means the stream must end.
func (st *stream) stall(d time.Duration) bool {
	f := st.f
	if f.StallMode == StallSilent {
		if d <= 0 {
			st.waitGone()
			return false
		}
		return st.sleep(d)
	}
	every := f.stallEvery()
	var end time.Time
	if d > 0 {
		end = time.Now().Add(d)
	}
	for {
		wait := every
		if d > 0 {
			left := time.Until(end)
			if left <= 0 {
				return true
			}
			wait = min(wait, left)
		}
		if !st.sleep(wait) {
			return false
		}
		if d > 0 && !time.Now().Before(end) {
			return true
		}
		if f.StallMode == StallPings {
			st.ping()
		} else {
			st.buf = append(st.buf, ": keep-alive\n\n"...)
		}
		if !st.emit() {
			return false
		}
	}
}

// event starts a named SSE event whose JSON data has a "type" field equal to
// its name (Anthropic, Responses); Responses events carry sequence_number.
func (st *stream) event(name string) {
	st.buf = append(st.buf, "event: "...)
	st.buf = append(st.buf, name...)
	st.buf = append(st.buf, "\ndata: {\"type\":\""...)
	st.buf = append(st.buf, name...)
	st.buf = append(st.buf, '"')
	if st.kind == apiResponses {
		st.buf = append(st.buf, `,"sequence_number":`...)
		st.buf = strconv.AppendInt(st.buf, int64(st.seq), 10)
		st.seq++
	}
}

func (st *stream) end() { st.buf = append(st.buf, "}\n\n"...) }

func (st *stream) appendString(s string) {
	// Token texts and IDs are plain ASCII letters, digits and spaces; only
	// the model name comes from the client, and it is pre-quoted.
	st.buf = append(st.buf, '"')
	st.buf = append(st.buf, s...)
	st.buf = append(st.buf, '"')
}

func (st *stream) appendInt(n int) { st.buf = strconv.AppendInt(st.buf, int64(n), 10) }

func (st *stream) begin() {
	switch st.kind {
	case apiChat:
		st.chatChunk()
		st.buf = append(st.buf, `{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`...)
		st.chatChunkEnd()
	case apiResponses:
		st.event("response.created")
		st.buf = append(st.buf, `,"response":`...)
		st.response("in_progress")
		st.end()
		st.event("response.in_progress")
		st.buf = append(st.buf, `,"response":`...)
		st.response("in_progress")
		st.end()
	case apiMessages:
		st.event("message_start")
		st.buf = append(st.buf, `,"message":{"id":"msg_`...)
		st.buf = append(st.buf, st.id...)
		st.buf = append(st.buf, `","type":"message","role":"assistant","content":[],"model":`...)
		st.buf = append(st.buf, st.model...)
		st.buf = append(st.buf, `,"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
		st.appendInt(st.prompt)
		st.buf = append(st.buf, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}`...)
		st.end()
	}
	st.emit()
}

func (st *stream) reasoningBegin() {
	switch st.kind {
	case apiResponses:
		st.event("response.output_item.added")
		st.buf = append(st.buf, `,"output_index":0,"item":{"id":"rs_`...)
		st.buf = append(st.buf, st.id...)
		st.buf = append(st.buf, `","type":"reasoning","summary":[]}`...)
		st.end()
		st.event("response.reasoning_summary_part.added")
		st.reasoningRef()
		st.buf = append(st.buf, `,"part":{"type":"summary_text","text":""}`...)
		st.end()
	case apiMessages:
		st.event("content_block_start")
		st.buf = append(st.buf, `,"index":0,"content_block":{"type":"thinking","thinking":""}`...)
		st.end()
		st.anthropicPing()
	}
	st.emit()
}

// reasoningRef appends the fields naming the Responses reasoning summary.
func (st *stream) reasoningRef() {
	st.buf = append(st.buf, `,"item_id":"rs_`...)
	st.buf = append(st.buf, st.id...)
	st.buf = append(st.buf, `","output_index":0,"summary_index":0`...)
}

func (st *stream) reasoningDelta(tok string) {
	switch st.kind {
	case apiChat:
		// vLLM's and DeepSeek's field; OpenAI's own chat API streams no reasoning.
		st.chatChunk()
		st.buf = append(st.buf, `{"reasoning_content":`...)
		st.appendString(tok)
		st.buf = append(st.buf, `},"logprobs":null,"finish_reason":null}]`...)
		st.chatChunkEnd()
	case apiResponses:
		st.event("response.reasoning_summary_text.delta")
		st.reasoningRef()
		st.buf = append(st.buf, `,"delta":`...)
		st.appendString(tok)
		st.end()
	case apiMessages:
		st.event("content_block_delta")
		st.buf = append(st.buf, `,"index":0,"delta":{"type":"thinking_delta","thinking":`...)
		st.appendString(tok)
		st.buf = append(st.buf, '}')
		st.end()
	}
	st.emit()
}

func (st *stream) reasoningEnd() {
	switch st.kind {
	case apiResponses:
		text := ReasoningText(st.nr)
		st.event("response.reasoning_summary_text.done")
		st.reasoningRef()
		st.buf = append(st.buf, `,"text":`...)
		st.appendString(text)
		st.end()
		st.event("response.reasoning_summary_part.done")
		st.reasoningRef()
		st.buf = append(st.buf, `,"part":{"type":"summary_text","text":`...)
		st.appendString(text)
		st.buf = append(st.buf, '}')
		st.end()
		st.event("response.output_item.done")
		st.buf = append(st.buf, `,"output_index":0,"item":`...)
		st.reasoningItem()
		st.end()
	case apiMessages:
		st.event("content_block_delta")
		st.buf = append(st.buf, `,"index":0,"delta":{"type":"signature_delta","signature":"testserver-signature"}`...)
		st.end()
		st.event("content_block_stop")
		st.buf = append(st.buf, `,"index":0`...)
		st.end()
	}
	st.emit()
}

func (st *stream) reasoningItem() {
	st.buf = append(st.buf, `{"id":"rs_`...)
	st.buf = append(st.buf, st.id...)
	st.buf = append(st.buf, `","type":"reasoning","summary":[{"type":"summary_text","text":`...)
	st.appendString(ReasoningText(st.nr))
	st.buf = append(st.buf, `}]}`...)
}

// textIndex is the index of the text: Anthropic's content block, Responses'
// output item.
func (st *stream) textIndex() int {
	if st.nr > 0 {
		return 1
	}
	return 0
}

// textRef appends the fields naming the Responses output text.
func (st *stream) textRef() {
	st.buf = append(st.buf, `,"item_id":"msg_`...)
	st.buf = append(st.buf, st.id...)
	st.buf = append(st.buf, `","output_index":`...)
	st.appendInt(st.textIndex())
	st.buf = append(st.buf, `,"content_index":0`...)
}

func (st *stream) textBegin() {
	switch st.kind {
	case apiResponses:
		st.event("response.output_item.added")
		st.buf = append(st.buf, `,"output_index":`...)
		st.appendInt(st.textIndex())
		st.buf = append(st.buf, `,"item":{"id":"msg_`...)
		st.buf = append(st.buf, st.id...)
		st.buf = append(st.buf, `","type":"message","status":"in_progress","role":"assistant","content":[]}`...)
		st.end()
		st.event("response.content_part.added")
		st.textRef()
		st.buf = append(st.buf, `,"part":{"type":"output_text","text":"","annotations":[]}`...)
		st.end()
	case apiMessages:
		st.event("content_block_start")
		st.buf = append(st.buf, `,"index":`...)
		st.appendInt(st.textIndex())
		st.buf = append(st.buf, `,"content_block":{"type":"text","text":""}`...)
		st.end()
		st.anthropicPing()
	default:
		return
	}
	st.emit()
}

// anthropicPing sends the ping Anthropic sends after its first content
// block starts.
func (st *stream) anthropicPing() {
	if !st.pinged {
		st.pinged = true
		st.ping()
	}
}

func (st *stream) textDelta(tok string) {
	switch st.kind {
	case apiChat:
		st.chatChunk()
		st.buf = append(st.buf, `{"content":`...)
		st.appendString(tok)
		st.buf = append(st.buf, `},"logprobs":null,"finish_reason":null}]`...)
		st.chatChunkEnd()
	case apiResponses:
		st.event("response.output_text.delta")
		st.textRef()
		st.buf = append(st.buf, `,"delta":`...)
		st.appendString(tok)
		st.buf = append(st.buf, `,"logprobs":[]`...)
		st.end()
	case apiMessages:
		st.event("content_block_delta")
		st.buf = append(st.buf, `,"index":`...)
		st.appendInt(st.textIndex())
		st.buf = append(st.buf, `,"delta":{"type":"text_delta","text":`...)
		st.appendString(tok)
		st.buf = append(st.buf, '}')
		st.end()
	}
	st.emit()
}

func (st *stream) textEnd() {
	switch st.kind {
	case apiResponses:
		text := Text(st.n)
		st.event("response.output_text.done")
		st.textRef()
		st.buf = append(st.buf, `,"text":`...)
		st.appendString(text)
		st.buf = append(st.buf, `,"logprobs":[]`...)
		st.end()
		st.event("response.content_part.done")
		st.textRef()
		st.buf = append(st.buf, `,"part":{"type":"output_text","text":`...)
		st.appendString(text)
		st.buf = append(st.buf, `,"annotations":[]}`...)
		st.end()
		st.event("response.output_item.done")
		st.buf = append(st.buf, `,"output_index":`...)
		st.appendInt(st.textIndex())
		st.buf = append(st.buf, `,"item":`...)
		st.messageItem()
		st.end()
	case apiMessages:
		st.event("content_block_stop")
		st.buf = append(st.buf, `,"index":`...)
		st.appendInt(st.textIndex())
		st.end()
	default:
		return
	}
	st.emit()
}

func (st *stream) messageItem() {
	st.buf = append(st.buf, `{"id":"msg_`...)
	st.buf = append(st.buf, st.id...)
	st.buf = append(st.buf, `","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":`...)
	st.appendString(Text(st.n))
	st.buf = append(st.buf, `,"annotations":[]}]}`...)
}

// finish sends the events after the text that are not the terminal one.
func (st *stream) finish() {
	switch st.kind {
	case apiChat:
		st.chatChunk()
		st.buf = append(st.buf, `{},"logprobs":null,"finish_reason":"stop"}]`...)
		st.chatChunkEnd()
		if st.includeUsage {
			st.chatPrefix()
			st.buf = append(st.buf, `],"usage":`...)
			st.chatUsage()
			st.end()
		}
	case apiMessages:
		st.event("message_delta")
		st.buf = append(st.buf, `,"delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`...)
		st.appendInt(st.n + st.nr)
		st.buf = append(st.buf, '}')
		st.end()
	default:
		return
	}
	st.emit()
}

func (st *stream) terminal() {
	switch st.kind {
	case apiChat:
		st.buf = append(st.buf, "data: [DONE]\n\n"...)
	case apiResponses:
		st.event("response.completed")
		st.buf = append(st.buf, `,"response":`...)
		st.response("completed")
		st.end()
	case apiMessages:
		st.event("message_stop")
		st.end()
	}
	st.emit()
}

func (st *stream) errorEvent() {
	switch st.kind {
	case apiChat:
		st.buf = append(st.buf, `data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`+"\n\n"...)
	case apiResponses:
		st.event("error")
		st.buf = append(st.buf, `,"code":"server_error","message":"The server had an error while processing your request. Sorry about that!","param":null`...)
		st.end()
	case apiMessages:
		st.event("error")
		st.buf = append(st.buf, `,"error":{"type":"overloaded_error","message":"Overloaded"}`...)
		st.end()
	}
	st.emit()
}

// ping appends the dialect's keep-alive event.
func (st *stream) ping() {
	if st.kind == apiMessages {
		st.buf = append(st.buf, "event: ping\ndata: {\"type\": \"ping\"}\n\n"...)
		return
	}
	st.buf = append(st.buf, ": ping\n\n"...)
}

func (st *stream) chatPrefix() {
	st.buf = append(st.buf, `data: {"id":"chatcmpl-`...)
	st.buf = append(st.buf, st.id...)
	st.buf = append(st.buf, `","object":"chat.completion.chunk","created":`...)
	st.buf = strconv.AppendInt(st.buf, st.created, 10)
	st.buf = append(st.buf, `,"model":`...)
	st.buf = append(st.buf, st.model...)
	st.buf = append(st.buf, `,"system_fingerprint":"fp_testserver","choices":[`...)
}

// chatChunk starts a chunk of the single choice up to its delta.
func (st *stream) chatChunk() {
	st.chatPrefix()
	st.buf = append(st.buf, `{"index":0,"delta":`...)
}

func (st *stream) chatChunkEnd() {
	if st.includeUsage {
		st.buf = append(st.buf, `,"usage":null`...)
	}
	st.end()
}

func (st *stream) chatUsage() {
	st.buf = append(st.buf, `{"prompt_tokens":`...)
	st.appendInt(st.prompt)
	st.buf = append(st.buf, `,"completion_tokens":`...)
	st.appendInt(st.n + st.nr)
	st.buf = append(st.buf, `,"total_tokens":`...)
	st.appendInt(st.prompt + st.n + st.nr)
	st.buf = append(st.buf, `,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	st.appendInt(st.nr)
	st.buf = append(st.buf, `}}`...)
}

// response appends a Responses response object.
func (st *stream) response(status string) {
	st.buf = append(st.buf, `{"id":"resp_`...)
	st.buf = append(st.buf, st.id...)
	st.buf = append(st.buf, `","object":"response","created_at":`...)
	st.buf = strconv.AppendInt(st.buf, st.created, 10)
	st.buf = append(st.buf, `,"status":`...)
	st.appendString(status)
	st.buf = append(st.buf, `,"error":null,"incomplete_details":null,"model":`...)
	st.buf = append(st.buf, st.model...)
	st.buf = append(st.buf, `,"output":[`...)
	if status == "completed" {
		if st.nr > 0 {
			st.reasoningItem()
			st.buf = append(st.buf, ',')
		}
		st.messageItem()
	}
	st.buf = append(st.buf, `],"usage":`...)
	if status != "completed" {
		st.buf = append(st.buf, `null}`...)
		return
	}
	st.buf = append(st.buf, `{"input_tokens":`...)
	st.appendInt(st.prompt)
	st.buf = append(st.buf, `,"input_tokens_details":{"cached_tokens":0},"output_tokens":`...)
	st.appendInt(st.n + st.nr)
	st.buf = append(st.buf, `,"output_tokens_details":{"reasoning_tokens":`...)
	st.appendInt(st.nr)
	st.buf = append(st.buf, `},"total_tokens":`...)
	st.appendInt(st.prompt + st.n + st.nr)
	st.buf = append(st.buf, `}}`...)
}

// json returns the non-streamed answer.
func (st *stream) json() []byte {
	switch st.kind {
	case apiChat:
		st.buf = append(st.buf, `{"id":"chatcmpl-`...)
		st.buf = append(st.buf, st.id...)
		st.buf = append(st.buf, `","object":"chat.completion","created":`...)
		st.buf = strconv.AppendInt(st.buf, st.created, 10)
		st.buf = append(st.buf, `,"model":`...)
		st.buf = append(st.buf, st.model...)
		st.buf = append(st.buf, `,"system_fingerprint":"fp_testserver","choices":[{"index":0,"message":{"role":"assistant","content":`...)
		st.appendString(Text(st.n))
		if st.nr > 0 {
			st.buf = append(st.buf, `,"reasoning_content":`...)
			st.appendString(ReasoningText(st.nr))
		}
		st.buf = append(st.buf, `,"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":`...)
		st.chatUsage()
		st.buf = append(st.buf, '}')
	case apiResponses:
		st.response("completed")
	case apiMessages:
		st.buf = append(st.buf, `{"id":"msg_`...)
		st.buf = append(st.buf, st.id...)
		st.buf = append(st.buf, `","type":"message","role":"assistant","model":`...)
		st.buf = append(st.buf, st.model...)
		st.buf = append(st.buf, `,"content":[`...)
		if st.nr > 0 {
			st.buf = append(st.buf, `{"type":"thinking","thinking":`...)
			st.appendString(ReasoningText(st.nr))
			st.buf = append(st.buf, `,"signature":"testserver-signature"},`...)
		}
		st.buf = append(st.buf, `{"type":"text","text":`...)
		st.appendString(Text(st.n))
		st.buf = append(st.buf, `}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":`...)
		st.appendInt(st.prompt)
		st.buf = append(st.buf, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":`...)
		st.appendInt(st.n + st.nr)
		st.buf = append(st.buf, `}}`...)
	}
	return st.buf
}
