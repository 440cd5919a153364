package testserver

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzFaultJSON feeds the FaultHeader parser: whatever it accepts survives a
// round trip through MarshalJSON unchanged.
func FuzzFaultJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"Status":429,"Header":{"Retry-After":"2"},"Body":"insufficient_quota"}`,
		`{"HeaderDelay":"1.5s","FirstTokenDelay":250000000,"StallAfter":3,"StallFor":"2s","StallMode":"pings","StallEvery":"100ms"}`,
		`{"Close":"mid_stream","Reset":true,"Truncate":true,"TokensPerSecond":12.5,"Reasoning":4,"ErrorEvent":true}`,
		`{"Close":2,"StallMode":1}`,
		`{"StallFor":"forever"}`,
		`{"Close":"sometimes"}`,
		`null`,
		`[1,2]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Fault
		if json.Unmarshal(data, &a) != nil {
			return
		}
		if len(a.Header) == 0 {
			a.Header = nil // omitted when empty
		}
		b, err := json.Marshal(a)
		require.NoError(t, err)
		var c Fault
		require.NoError(t, json.Unmarshal(b, &c), "%s", b)
		assert.Equal(t, a, c)
	})
}
