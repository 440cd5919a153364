package faultmatrix_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/bench/faultmatrix"
)

// TestMain checks for leaks, except toxiproxy's own: its links leave two
// goroutines per connection whose toxic closed its end early (reset_peer,
// limit_data) blocked on a channel nobody reads. The clients' goroutines
// are checked per cell by Run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/stream.(*ChanWriter).Write"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
	)
}

// TestMatrix runs the whole matrix in quick mode (3 calls per cell and
// client) and asserts llmhttp's invariants in every cell; net/http's
// outcomes are only recorded, but its calls must end too. Environment:
// FAULTMATRIX_CALLS sets the calls per cell (20 for a full run),
// FAULTMATRIX_CELLS keeps the cells whose name contains it,
// FAULTMATRIX_CLIENTS lists the clients ("llmhttp,net/http"),
// FAULTMATRIX_REPORT names a file for the Markdown, and FAULTMATRIX_DEBUG=1
// prints every failed call and each cell's log.
func TestMatrix(t *testing.T) {
	opt := faultmatrix.Options{CallsPerCell: 3}
	if s := os.Getenv("FAULTMATRIX_CALLS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "FAULTMATRIX_CALLS")
		opt.CallsPerCell = n
	}
	if s := os.Getenv("FAULTMATRIX_CLIENTS"); s != "" {
		for c := range strings.SplitSeq(s, ",") {
			opt.Clients = append(opt.Clients, faultmatrix.Client(c))
		}
	}
	if s := os.Getenv("FAULTMATRIX_CELLS"); s != "" {
		opt.Cells = func(c faultmatrix.Cell) bool { return strings.Contains(c.Name, s) }
	}
	rep, err := faultmatrix.Run(t.Context(), opt)
	require.NoError(t, err)

	var md strings.Builder
	require.NoError(t, rep.Markdown(&md))
	if path := os.Getenv("FAULTMATRIX_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(md.String()), 0o644))
	}
	if testing.Verbose() || t.Failed() {
		t.Log("\n" + md.String())
	}
	assert.Empty(t, rep.Violations(), "llmhttp invariants")
	for _, r := range rep.Results {
		assert.Equal(t, r.Calls, sum(r.Outcomes), "%s [%s]: every call has an outcome", r.Cell.Name, r.Client)
		assert.Zero(t, r.Outcomes["hung"], "%s [%s]: no call may hang, not even net/http's (it has deadlines)", r.Cell.Name, r.Client)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
