module github.com/llmhttp/llmhttp/bench

go 1.26

require (
	github.com/llmhttp/llmhttp v0.0.0
	github.com/openai/openai-go/v3 v3.96.0
	github.com/r3labs/sse/v2 v2.10.0
	github.com/tmaxmax/go-sse v0.12.0
	gopkg.in/cenkalti/backoff.v1 v1.1.0
)

require (
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/tidwall/gjson v1.20.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/net v0.60.0 // indirect
)

replace github.com/llmhttp/llmhttp => ../
