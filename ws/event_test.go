package ws_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/llmhttp/llmhttp/ws"
)

func TestEventType(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"simple", `{"type":"response.done"}`, "response.done"},
		{"after fields", `{"event_id":"e1","n":12.5e3,"ok":true,"x":null,"type":"session.created"}`, "session.created"},
		{"after nested", `{"session":{"type":"inner","a":[1,{"type":"deep"}]},"type":"outer"}`, "outer"},
		{"spaces", " {\n\t\"type\" : \"a.b\" } ", "a.b"},
		{"escaped value", `{"type":"a\u002eb"}`, "a.b"},
		{"escaped key is skipped", `{"ty\u0070e":"x","type":"y"}`, "y"},
		{"quote in string", `{"delta":"say \"type\":\"no\"","type":"yes"}`, "yes"},
		{"no type", `{"a":1}`, ""},
		{"type not a string", `{"type":1}`, ""},
		{"array", `[{"type":"x"}]`, ""},
		{"not json", `hello`, ""},
		{"empty", ``, ""},
		{"truncated", `{"delta":"abc`, ""},
		{"truncated value", `{"type":"abc`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ws.EventType([]byte(tt.in)))
		})
	}
}

// FuzzEventType checks that EventType never panics and, on valid JSON
// objects, agrees with encoding/json (which takes the last duplicate key,
// so only inputs with one "type" key are compared).
func FuzzEventType(f *testing.F) {
	for _, s := range []string{
		`{"type":"response.done"}`,
		`{"event_id":"e","type":"x","delta":"y"}`,
		`{"a":{"b":[1,2,{"c":"d"}]},"type":"t"}`,
		`{"type":"a\"b"}`,
		`{"type":1}`,
		`{`, `"`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := ws.EventType(data)
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return
		}
		var want string
		if raw, ok := m["type"]; ok {
			if json.Unmarshal(raw, &want) != nil {
				want = ""
			}
		}
		keys := 0
		dec := json.NewDecoder(bytesReader(data))
		countTypeKeys(dec, &keys)
		if keys == 1 && got != want {
			t.Fatalf("EventType(%q) = %q, encoding/json says %q", data, got, want)
		}
	})
}

func BenchmarkEventType(b *testing.B) {
	data := []byte(`{"type":"response.output_text.delta","event_id":"event_123","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":" t42"}`)
	b.ReportAllocs()
	for b.Loop() {
		ws.EventType(data)
	}
}
