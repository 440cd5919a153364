package main

import (
	"bytes"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The demo's promise: every llmhttp call succeeds through the fault mix,
// while the plain client visibly does not.
func TestQuickstartTable(t *testing.T) {
	var out bytes.Buffer
	o := options{calls: 60, concurrency: 20, tokens: 10, tps: 100, seed: 1, model: "test", plainTimeout: 3 * time.Second}
	require.NoError(t, run(t.Context(), &out, io.Discard, o))
	t.Log("\n" + out.String())
	m := regexp.MustCompile(`calls succeeded\s+(\d+)/60\s+(\d+)/60`).FindStringSubmatch(out.String())
	require.Len(t, m, 3, out.String())
	assert.Equal(t, "60", m[2], "llmhttp column")
	assert.NotEqual(t, "60", m[1], "net/http column")
	assert.Contains(t, out.String(), "stalls caught")
}
