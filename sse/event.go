package sse

import "bytes"

// Event is one dispatched server-sent event.
type Event struct {
	ID   string // the last event ID in force when the event was dispatched (WHATWG)
	Type string // the event field; "message" when the event had none
	Data []byte // data lines joined by "\n"; valid until the next call to Next
}

// doneData is the data of the event OpenAI's chat completions stream (and
// many OpenAI-compatible servers) send as their last event.
var doneData = []byte("[DONE]")

// IsDone reports whether e is OpenAI's terminator, the event whose data is
// exactly "[DONE]". A caller of a chat completions stream stops there: the
// terminator is not JSON.
func (e Event) IsDone() bool { return bytes.Equal(e.Data, doneData) }
