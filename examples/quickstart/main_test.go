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

func TestQuickstartPrintsTheWholeText(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, 12, 0))
	assert.Contains(t, out.String(), testserver.Text(12))
	assert.Contains(t, out.String(), "12 tokens in")
	assert.Contains(t, out.String(), "1 attempt(s)")
}
