package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSDKCallsSucceedThroughFaults(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Script: Faults()})
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, srv.URL()))
	assert.Contains(t, out.String(), "non-streaming: "+testserver.Text(8)+"\n")
	assert.Contains(t, out.String(), "streaming: "+testserver.Text(12)+"\n")
	// 3 attempts per call: each fault was retried once, and the SDK's own
	// retries were off.
	assert.Equal(t, int64(6), srv.Stats().RequestsByPath["/v1/chat/completions"])
}
