module github.com/llmhttp/llmhttp/examples

go 1.26

require github.com/llmhttp/llmhttp v0.0.0

require (
	github.com/coder/websocket v1.8.15 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)

replace github.com/llmhttp/llmhttp => ../
