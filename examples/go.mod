module github.com/llmhttp/llmhttp/examples

go 1.26

require github.com/llmhttp/llmhttp v0.0.0

replace github.com/llmhttp/llmhttp => ../
