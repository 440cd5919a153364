// Package sse compares llmhttp's sse.Reader with peer event-stream decoders
// (github.com/tmaxmax/go-sse, github.com/r3labs/sse/v2 and openai-go's
// packages/ssestream) on the same OpenAI- and Anthropic-shaped streams, and
// measures the memory and CPU of many concurrent watched streams.
//
//	go test -run XXX -bench . ./sse/            # decode throughput, side by side
//	go test -run TestPeerTable -v ./sse/        # the same as a table of ratios
//	SSE_STREAMS=10000 go test -run TestManyStreams -v ./sse/
package sse
