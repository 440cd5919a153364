// Package examples holds runnable programs that show llmhttp in use, alone and
// plugged into the OpenAI and Anthropic SDKs. It is a module of its own so that
// the SDKs never become dependencies of the library.
package examples
