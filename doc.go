// Package llmhttp assembles llmhttp's packages into the recommended HTTP
// client for LLM APIs. Most callers want NewClient with a zero Config.
package llmhttp
