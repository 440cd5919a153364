package testserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ChatBody is a small non-streaming chat-completion request body.
const ChatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// StatusError is what Call returns for an answer that is not 200 OK.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("testserver: status %d", e.Code) }

// Call sends one non-streaming chat completion (a POST, which net/http
// re-sends by itself only when nothing of it was written) through rt to
// baseURL and reads the whole answer. Tests of connection handling use it as
// the unit of load.
func Call(ctx context.Context, rt http.RoundTripper, baseURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/chat/completions", strings.NewReader(ChatBody))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = &StatusError{Code: resp.StatusCode}
	}
	return err
}
