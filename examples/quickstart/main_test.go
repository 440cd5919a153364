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

// Failed calls are listed under the table with the first error of each
// kind, so that a user can see why.
func TestTableListsFailures(t *testing.T) {
	var out bytes.Buffer
	llm := result{ok: 9, errs: map[string]int{"other error": 1}, examples: map[string]string{"other error": "retry: 127.0.0.1:1: gave up after 9 attempts, last status 503"}}
	plain := result{ok: 8, errs: map[string]int{"status 429": 2}, examples: map[string]string{"status 429": "status 429"}}
	printTable(&out, 10, plain, llm)
	s := out.String()
	assert.Contains(t, s, "llmhttp failures:\n     1  other error\n        first: retry: 127.0.0.1:1: gave up after 9 attempts, last status 503\n")
	assert.Contains(t, s, "net/http failures:\n     2  status 429\n")
	assert.NotContains(t, s, "first: status 429", "no detail that repeats the kind")
}
