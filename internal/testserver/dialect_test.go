package testserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokens(t *testing.T) {
	assert.Equal(t, []string{"t0", " t1", " t2"}, Tokens(3))
	assert.Equal(t, "t0 t1 t2", Text(3))
	assert.Equal(t, "", Text(0))
	assert.Empty(t, Tokens(0))
	assert.Equal(t, strings.Join(Tokens(5000), ""), Text(5000))
	assert.Equal(t, " t4999", Tokens(5000)[4999])
	assert.Equal(t, "r0 r1", ReasoningText(2))
	assert.Equal(t, []string{"r0", " r1"}, ReasoningTokens(2))
	toks := Tokens(2)
	toks[0] = "x"
	assert.Equal(t, "t0", Tokens(1)[0], "callers cannot change the cache")
}

// event is one SSE event of a streamed answer.
type event struct {
	name string
	data string
}

func parseEvents(t *testing.T, body string) []event {
	t.Helper()
	var out []event
	for block := range strings.SplitSeq(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		var ev event
		for line := range strings.Lines(block) {
			line = strings.TrimSuffix(line, "\n")
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev.name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				ev.data = v
			}
		}
		out = append(out, ev)
	}
	return out
}

func eventNames(evs []event) []string {
	var out []string
	for _, ev := range evs {
		if ev.name != "" {
			out = append(out, ev.name)
		}
	}
	return out
}

func TestChatStream(t *testing.T) {
	for _, p := range []Protocol{HTTP1, H2C, TLS} {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p})
			c := client(t, s)
			body := `{"model":"gpt-x","stream":true,"max_completion_tokens":5,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
			resp, got := fetch(t, c, s, "/v1/chat/completions", body, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.NotEmpty(t, resp.Header.Get("x-request-id"))
			evs := parseEvents(t, got)
			require.Len(t, evs, 1+5+1+1+1)
			assert.Equal(t, "[DONE]", evs[len(evs)-1].data)

			type chunk struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Model   string `json:"model"`
				Choices []struct {
					Delta struct {
						Role    *string `json:"role"`
						Content *string `json:"content"`
					} `json:"delta"`
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
				Usage *struct {
					PromptTokens     int `json:"prompt_tokens"`
					CompletionTokens int `json:"completion_tokens"`
					TotalTokens      int `json:"total_tokens"`
				} `json:"usage"`
			}
			var chunks []chunk
			for _, ev := range evs[:len(evs)-1] {
				var ch chunk
				require.NoError(t, json.Unmarshal([]byte(ev.data), &ch), ev.data)
				assert.Equal(t, "chat.completion.chunk", ch.Object)
				assert.Equal(t, "gpt-x", ch.Model)
				chunks = append(chunks, ch)
			}
			assert.Equal(t, "assistant", *chunks[0].Choices[0].Delta.Role)
			var text strings.Builder
			for _, ch := range chunks[1:6] {
				assert.Nil(t, ch.Choices[0].Delta.Role)
				text.WriteString(*ch.Choices[0].Delta.Content)
			}
			assert.Equal(t, Text(5), text.String())
			assert.Equal(t, "stop", *chunks[6].Choices[0].FinishReason)
			assert.Empty(t, chunks[7].Choices)
			require.NotNil(t, chunks[7].Usage)
			assert.Equal(t, 5, chunks[7].Usage.CompletionTokens)
			assert.Equal(t, promptTokens([]byte(body)), chunks[7].Usage.PromptTokens)
			assert.Equal(t, chunks[7].Usage.PromptTokens+5, chunks[7].Usage.TotalTokens)

			// Without include_usage there is no usage chunk.
			_, got = fetch(t, c, s, "/v1/chat/completions", `{"stream":true}`, nil)
			evs = parseEvents(t, got)
			assert.Len(t, evs, 1+DefaultTokens+1+1)
			assert.Equal(t, Text(DefaultTokens), deltas(t, got))
			assert.NotContains(t, got, "usage")
		})
	}
}

func TestChatJSON(t *testing.T) {
	s := New(t, Config{})
	c := client(t, s)
	resp, got := fetch(t, c, s, "/v1/chat/completions", `{"model":"m","max_tokens":3}`, &Fault{Reasoning: 2})
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var v struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role, Content    string
				ReasoningContent string `json:"reasoning_content"`
			}
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(got), &v))
	assert.Equal(t, "chat.completion", v.Object)
	assert.Equal(t, "assistant", v.Choices[0].Message.Role)
	assert.Equal(t, Text(3), v.Choices[0].Message.Content)
	assert.Equal(t, ReasoningText(2), v.Choices[0].Message.ReasoningContent)
	assert.Equal(t, "stop", v.Choices[0].FinishReason)
	assert.Equal(t, 5, v.Usage.CompletionTokens)
}

func TestResponsesStream(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p})
			c := client(t, s)
			resp, got := fetch(t, c, s, "/v1/responses", `{"model":"o-x","stream":true,"max_output_tokens":3,"reasoning":{"effort":"low","summary":"auto"}}`, &Fault{Reasoning: 2})
			assert.NotEmpty(t, resp.Header.Get("x-request-id"))
			evs := parseEvents(t, got)
			assert.Equal(t, []string{
				"response.created", "response.in_progress",
				"response.output_item.added", "response.reasoning_summary_part.added",
				"response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
				"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
				"response.output_item.added", "response.content_part.added",
				"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
				"response.output_text.done", "response.content_part.done", "response.output_item.done",
				"response.completed",
			}, eventNames(evs))
			var reasoning, text strings.Builder
			for i, ev := range evs {
				var d struct {
					Type  string `json:"type"`
					Seq   int    `json:"sequence_number"`
					Delta string `json:"delta"`
				}
				require.NoError(t, json.Unmarshal([]byte(ev.data), &d), ev.data)
				assert.Equal(t, ev.name, d.Type)
				assert.Equal(t, i, d.Seq)
				switch d.Type {
				case "response.reasoning_summary_text.delta":
					reasoning.WriteString(d.Delta)
				case "response.output_text.delta":
					text.WriteString(d.Delta)
				}
			}
			assert.Equal(t, ReasoningText(2), reasoning.String())
			assert.Equal(t, Text(3), text.String())
			var done struct {
				Response struct {
					Status string
					Output []struct {
						Type    string
						Content []struct{ Text string }
					}
					Usage struct {
						InputTokens         int `json:"input_tokens"`
						OutputTokens        int `json:"output_tokens"`
						TotalTokens         int `json:"total_tokens"`
						OutputTokensDetails struct {
							ReasoningTokens int `json:"reasoning_tokens"`
						} `json:"output_tokens_details"`
					}
				}
			}
			require.NoError(t, json.Unmarshal([]byte(evs[len(evs)-1].data), &done))
			assert.Equal(t, "completed", done.Response.Status)
			require.Len(t, done.Response.Output, 2)
			assert.Equal(t, "reasoning", done.Response.Output[0].Type)
			assert.Equal(t, Text(3), done.Response.Output[1].Content[0].Text)
			assert.Equal(t, 5, done.Response.Usage.OutputTokens)
			assert.Equal(t, 2, done.Response.Usage.OutputTokensDetails.ReasoningTokens)
			assert.Positive(t, done.Response.Usage.InputTokens)

			// The request's own reasoning field asks for reasoning too.
			_, got = fetch(t, c, s, "/v1/responses", `{"stream":true,"max_output_tokens":1,"reasoning":{"effort":"high"}}`, nil)
			assert.Equal(t, DefaultReasoning, strings.Count(got, "event: response.reasoning_summary_text.delta\n"))
		})
	}
}

func TestMessagesStream(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p})
			c := client(t, s)
			resp, got := fetch(t, c, s, "/v1/messages", `{"model":"claude-x","stream":true,"max_tokens":3,"thinking":{"type":"enabled","budget_tokens":1024}}`, nil)
			assert.NotEmpty(t, resp.Header.Get("request-id"))
			assert.Empty(t, resp.Header.Get("x-request-id"))
			evs := parseEvents(t, got)
			want := []string{"message_start", "content_block_start", "ping"}
			for range DefaultReasoning {
				want = append(want, "content_block_delta")
			}
			want = append(want, "content_block_delta", "content_block_stop", "content_block_start",
				"content_block_delta", "content_block_delta", "content_block_delta",
				"content_block_stop", "message_delta", "message_stop")
			assert.Equal(t, want, eventNames(evs))
			var thinking, text strings.Builder
			for _, ev := range evs {
				var d struct {
					Type  string
					Index int
					Delta struct{ Type, Text, Thinking string }
					Usage struct {
						OutputTokens int `json:"output_tokens"`
					}
				}
				require.NoError(t, json.Unmarshal([]byte(ev.data), &d), ev.data)
				assert.Equal(t, ev.name, d.Type)
				switch d.Delta.Type {
				case "thinking_delta":
					assert.Equal(t, 0, d.Index)
					thinking.WriteString(d.Delta.Thinking)
				case "text_delta":
					assert.Equal(t, 1, d.Index)
					text.WriteString(d.Delta.Text)
				}
				if d.Type == "message_delta" {
					assert.Equal(t, 3+DefaultReasoning, d.Usage.OutputTokens)
				}
			}
			assert.Equal(t, ReasoningText(DefaultReasoning), thinking.String())
			assert.Equal(t, Text(3), text.String())

			// Without thinking: the ping follows the text block's start.
			_, got = fetch(t, c, s, "/v1/messages", `{"stream":true,"max_tokens":1}`, nil)
			assert.Equal(t, []string{"message_start", "content_block_start", "ping", "content_block_delta",
				"content_block_stop", "message_delta", "message_stop"}, eventNames(parseEvents(t, got)))
		})
	}
}

func TestMessagesJSON(t *testing.T) {
	s := New(t, Config{})
	c := client(t, s)
	_, got := fetch(t, c, s, "/v1/messages", `{"model":"m","max_tokens":2}`, &Fault{Reasoning: 1})
	var v struct {
		Type    string
		Content []struct{ Type, Text, Thinking string }
		Usage   struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(got), &v))
	assert.Equal(t, "message", v.Type)
	require.Len(t, v.Content, 2)
	assert.Equal(t, ReasoningText(1), v.Content[0].Thinking)
	assert.Equal(t, Text(2), v.Content[1].Text)
	assert.Equal(t, 3, v.Usage.OutputTokens)
}

func TestOtherEndpoints(t *testing.T) {
	s := New(t, Config{})
	c := client(t, s)
	for _, tt := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/health", 200, `{"status":"ok"}`},
		{"GET", "/v1/models", 200, `"object":"list"`},
		{"GET", "/v1/chat/completions", 405, `"error"`},
		{"GET", "/nope", 404, `"error"`},
	} {
		req, err := http.NewRequest(tt.method, s.URL()+tt.path, nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, tt.code, resp.StatusCode, tt.path)
		assert.Contains(t, b.String(), tt.body)
	}
	resp, got := fetch(t, c, s, "/v1/chat/completions", `{not json`, nil)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, got, "invalid_request_error")
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, path string
		fault      Fault
		wantText   string
		notWant    string
		wantLast   string // the last event's name or data
	}{
		{"chat end", "/v1/chat/completions", Fault{Truncate: true}, Text(4), "[DONE]", `"finish_reason":"stop"`},
		{"chat after 2", "/v1/chat/completions", Fault{Truncate: true, StallAfter: 2}, Text(2), "finish_reason\":\"stop", `" t1"`},
		{"messages end", "/v1/messages", Fault{Truncate: true}, Text(4), "message_stop", "message_delta"},
		{"responses end", "/v1/responses", Fault{Truncate: true}, Text(4), "response.completed", "response.output_item.done"},
		{"responses stall then cut", "/v1/responses", Fault{Truncate: true, StallAfter: 1, StallFor: 10 * time.Millisecond}, Text(1), "response.output_text.done", `"delta":"t0"`},
	}
	for _, p := range bothProtocols {
		for _, tt := range tests {
			t.Run(p.String()+"/"+tt.name, func(t *testing.T) {
				s := New(t, Config{Protocol: p, Script: []Fault{tt.fault}})
				c := client(t, s)
				_, got := fetch(t, c, s, tt.path, streamChat, nil) // a clean end: no read error
				assert.Equal(t, tt.wantText, deltas(t, got))
				assert.NotContains(t, got, tt.notWant)
				evs := parseEvents(t, got)
				last := evs[len(evs)-1]
				assert.Contains(t, last.name+last.data, tt.wantLast)
			})
		}
	}
}

func TestErrorEvent(t *testing.T) {
	tests := []struct {
		name, path string
		fault      Fault
		wantText   string
		wantLast   string
	}{
		{"chat at once", "/v1/chat/completions", Fault{ErrorEvent: true}, "", `{"error":{"message":`},
		{"chat after 2", "/v1/chat/completions", Fault{ErrorEvent: true, StallAfter: 2}, Text(2), `"type":"server_error"`},
		{"messages", "/v1/messages", Fault{ErrorEvent: true, StallAfter: 3}, Text(3), `error{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		{"responses", "/v1/responses", Fault{ErrorEvent: true}, "", `error{"type":"error","sequence_number":2,"code":"server_error"`},
	}
	for _, p := range bothProtocols {
		for _, tt := range tests {
			t.Run(p.String()+"/"+tt.name, func(t *testing.T) {
				s := New(t, Config{Protocol: p, Script: []Fault{tt.fault}})
				c := client(t, s)
				resp, got := fetch(t, c, s, tt.path, streamChat, nil)
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, tt.wantText, deltas(t, got))
				evs := parseEvents(t, got)
				last := evs[len(evs)-1]
				assert.Contains(t, last.name+last.data, tt.wantLast)
			})
		}
	}
}

func TestPacing(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			// 50 tokens a second: 5 tokens take at least 4 intervals of 20ms.
			s := New(t, Config{Protocol: p, TokensPerSecond: 50, Script: []Fault{{}, {TokensPerSecond: 1000}}})
			c, rec := recordingClient(t, s)
			start := time.Now()
			_, got := fetch(t, c, s, "/v1/chat/completions", `{"stream":true,"max_tokens":5}`, nil)
			assert.Equal(t, Text(5), deltas(t, got))
			// Token i cannot arrive before i intervals after the request
			// (a lower bound that holds however loaded the machine is), and
			// each came in a read of its own.
			for i := 1; i < 5; i++ {
				at, j := rec.at(t, `"content":"`+Tokens(5)[i]+`"`)
				assert.GreaterOrEqual(t, at.Sub(start), time.Duration(i)*20*time.Millisecond, i)
				_, k := rec.at(t, `"content":"`+Tokens(5)[i-1]+`"`)
				assert.Less(t, k, j)
			}
		})
	}
}
