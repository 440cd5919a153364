package testserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatusFaults(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		fault    Fault
		wantCode int
		wantHdr  map[string]string
		wantBody string // substring
	}{
		{"429 retry-after", "/v1/chat/completions", Fault{Status: 429, Header: map[string]string{"Retry-After": "2", "retry-after-ms": "1500", "x-ratelimit-remaining-requests": "0"}},
			429, map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500", "X-Ratelimit-Remaining-Requests": "0"}, `"code":"rate_limit_exceeded"`},
		{"insufficient quota", "/v1/chat/completions", Fault{Status: 429, Body: "insufficient_quota"},
			429, nil, `"type":"insufficient_quota"`},
		{"500", "/v1/responses", Fault{Status: 500}, 500, nil, `"type":"server_error"`},
		{"502", "/v1/chat/completions", Fault{Status: 502}, 502, nil, `"type":"server_error"`},
		{"503 should retry", "/v1/chat/completions", Fault{Status: 503, Header: map[string]string{"x-should-retry": "true"}},
			503, map[string]string{"X-Should-Retry": "true"}, `overloaded`},
		{"504", "/v1/chat/completions", Fault{Status: 504}, 504, nil, `"type":"server_error"`},
		{"anthropic 529", "/v1/messages", Fault{Status: 529}, 529, nil, `{"type":"overloaded_error","message":"Overloaded"}`},
		{"anthropic 429", "/v1/messages", Fault{Status: 429, Header: map[string]string{"retry-after": "7"}}, 429, map[string]string{"Retry-After": "7"}, `"type":"rate_limit_error"`},
		{"anthropic 401", "/v1/messages", Fault{Status: 401}, 401, nil, `"type":"authentication_error"`},
		{"400", "/v1/chat/completions", Fault{Status: 400}, 400, nil, `"type":"invalid_request_error"`},
		{"401", "/v1/chat/completions", Fault{Status: 401}, 401, nil, `"code":"invalid_api_key"`},
		{"custom body", "/v1/chat/completions", Fault{Status: 418, Body: "teapot!", Header: map[string]string{"Content-Type": "text/plain"}},
			418, map[string]string{"Content-Type": "text/plain"}, `teapot!`},
	}
	for _, p := range bothProtocols {
		for _, tt := range tests {
			t.Run(p.String()+"/"+tt.name, func(t *testing.T) {
				s := New(t, Config{Protocol: p, Script: []Fault{tt.fault}})
				c := client(t, s)
				resp, body := fetch(t, c, s, tt.path, streamChat, nil)
				assert.Equal(t, tt.wantCode, resp.StatusCode)
				for k, v := range tt.wantHdr {
					assert.Equal(t, v, resp.Header.Get(k), k)
				}
				assert.Contains(t, body, tt.wantBody)
				if tt.fault.Body == "" || tt.fault.Body == "insufficient_quota" {
					assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
					assert.True(t, json.Valid([]byte(body)), body)
				}
				// The script is used up: the next request is normal.
				resp, body = fetch(t, c, s, tt.path, streamChat, nil)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, Text(4), deltas(t, body))
			})
		}
	}
}

func TestScriptOrder(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p,
				Script:  []Fault{{Status: 500}, {Status: 503}, {}, {Status: 429}},
				Default: Fault{Status: 502},
			})
			c := client(t, s)
			paths := []string{"/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/chat/completions", "/v1/messages"}
			var got []int
			for _, path := range paths {
				resp, _ := fetch(t, c, s, path, streamChat, nil)
				got = append(got, resp.StatusCode)
				// Probes do not use up the script.
				resp, _ = fetch(t, c, s, "/health", "", nil)
				require.Equal(t, http.StatusBadGateway, resp.StatusCode, "Default applies to /health")
			}
			assert.Equal(t, []int{500, 503, 200, 429, 502}, got)

			s.SetScript(Fault{Status: 401})
			resp, _ := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, 401, resp.StatusCode)
			resp, _ = fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, 502, resp.StatusCode)
		})
	}
}

func TestFaultHeader(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, Script: []Fault{{Status: 500}}})
			c := client(t, s)
			// The header wins over the script (and uses up its entry).
			resp, _ := fetch(t, c, s, "/v1/chat/completions", streamChat, &Fault{Status: 418, Header: map[string]string{"X-A": "b"}})
			assert.Equal(t, 418, resp.StatusCode)
			assert.Equal(t, "b", resp.Header.Get("X-A"))
			resp, _ = fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, 200, resp.StatusCode)

			// Durations as strings.
			req, err := http.NewRequest(http.MethodPost, s.URL()+"/v1/messages", strings.NewReader(streamChat))
			require.NoError(t, err)
			req.Header.Set(FaultHeader, `{"Status":529,"HeaderDelay":"30ms","Close":"none","StallMode":"comments"}`)
			start := time.Now()
			resp, err = c.Do(req)
			require.NoError(t, err)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Equal(t, 529, resp.StatusCode)
			assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

			req.Header.Set(FaultHeader, `{"HeaderDelay":"soon"}`)
			req.Body = io.NopCloser(strings.NewReader(streamChat))
			resp, err = c.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Contains(t, string(b), FaultHeader)
		})
	}
}

func TestFaultJSON(t *testing.T) {
	f := Fault{Status: 503, Header: map[string]string{"a": "b"}, HeaderDelay: 1500 * time.Millisecond,
		StallAfter: 3, StallFor: 2 * time.Second, StallMode: StallPings, Close: CloseMidStream, Reset: true}
	b, err := json.Marshal(f)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"HeaderDelay":"1.5s"`)
	assert.Contains(t, string(b), `"Close":"mid_stream"`)
	var g Fault
	require.NoError(t, json.Unmarshal(b, &g))
	assert.Equal(t, f, g)
	require.NoError(t, json.Unmarshal([]byte(`{"StallFor":1000000,"StallMode":1,"Close":3}`), &g))
	assert.Equal(t, Fault{StallFor: time.Millisecond, StallMode: StallComments, Close: CloseMidStream}, g)
	assert.Error(t, json.Unmarshal([]byte(`{"Close":"sometimes"}`), &g))
}

func TestHeaderDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, Script: []Fault{{HeaderDelay: delay}}})
			c := client(t, s)
			start := time.Now()
			resp, err := post(t, c, s, "/v1/chat/completions", streamChat, nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.GreaterOrEqual(t, time.Since(start), delay)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, Text(4), deltas(t, string(b)))
		})
	}
}

func TestFirstTokenDelay(t *testing.T) {
	const delay = 200 * time.Millisecond
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, Script: []Fault{{FirstTokenDelay: delay}}})
			c, rec := recordingClient(t, s)
			start := time.Now()
			resp, err := post(t, c, s, "/v1/chat/completions", streamChat, nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			headersAt := time.Now()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, Text(4), deltas(t, string(b)))
			// Headers came at once; no body byte came before the delay was over.
			first, _ := rec.at(t, `"role":"assistant"`)
			assert.GreaterOrEqual(t, first.Sub(start), delay)
			assert.Less(t, headersAt, first)
		})
	}
}
