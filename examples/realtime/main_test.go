package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRealtimeSessionSurvivesADrop(t *testing.T) {
	configured = 0
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, 0))
	s := out.String()
	t.Log("\n" + s)
	assert.Contains(t, s, "[session 1 configured]")
	assert.Contains(t, s, "[connection lost")
	assert.Contains(t, s, "[new session 2: the server kept nothing of the old one]")
	assert.Contains(t, s, "[session 2 configured]")
	assert.Equal(t, 2, strings.Count(s, "[completed, 8 tokens]"))
	assert.Contains(t, s, testserver.Text(8))
	assert.Contains(t, s, "t0 t1 t2\n[connection lost", "the cut answer is not completed silently")
}
