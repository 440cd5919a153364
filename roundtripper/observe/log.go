package observe

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
)

// log writes the call's line and, at debug level, one per attempt. It logs
// only the report's fields: never a header other than the request ID, nor a
// URL's query or user info.
func (o *observer) log(ctx context.Context, r *Report) {
	level := o.level
	if r.Failed() && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	if o.logger.Enabled(ctx, slog.LevelDebug) {
		for i := range r.Attempts {
			o.logger.LogAttrs(ctx, slog.LevelDebug, "llmhttp attempt", attemptAttrs(r, &r.Attempts[i])...)
		}
	}
	if !o.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 24)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.Path),
		slog.Int("status", r.Status),
		slog.Duration("duration", r.Duration),
		slog.Int("attempts", len(r.Attempts)),
	)
	if r.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", r.RequestID))
	}
	if a := r.Last(); a != nil {
		attrs = append(attrs, slog.Bool("reused", a.Reused))
		if a.FirstByte > 0 {
			attrs = append(attrs, slog.Duration("ttfb", a.TimeToHeaders()))
		}
	}
	if r.RetryWait > 0 {
		attrs = append(attrs, slog.Duration("retry_wait", r.RetryWait))
	}
	if r.PoolWait > 0 {
		attrs = append(attrs, slog.Duration("pool_wait", r.PoolWait))
	}
	attrs = append(attrs, slog.Int64("bytes", r.BytesRead))
	if r.Stream {
		attrs = append(attrs, slog.String("outcome", string(r.Outcome)))
		if r.FirstEvent > 0 {
			attrs = append(attrs, slog.Duration("first_event", r.FirstEvent))
		}
		if r.FirstToken > 0 {
			attrs = append(attrs,
				slog.Duration("ttft", r.FirstToken),
				slog.Int("tokens", r.Tokens),
				slog.Duration("gap_mean", r.Gaps.Mean()),
				slog.Duration("gap_max", r.Gaps.Max),
			)
		}
		if r.Buffered {
			attrs = append(attrs, slog.Bool("buffered", true))
		}
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("err", errString(r.Err)))
	}
	o.logger.LogAttrs(ctx, level, "llmhttp call", attrs...)
}

func attemptAttrs(r *Report, a *Attempt) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.Int("attempt", a.N),
		slog.Bool("reused", a.Reused),
	}
	for _, p := range [...]struct {
		name string
		ph   Phase
	}{{"dns", a.DNS}, {"connect", a.Connect}, {"tls", a.TLS}} {
		if p.ph.End > 0 {
			attrs = append(attrs, slog.Duration(p.name, p.ph.Duration()))
		}
	}
	if a.PoolWait > 0 {
		attrs = append(attrs, slog.Duration("pool_wait", a.PoolWait))
	}
	if a.Status > 0 {
		attrs = append(attrs, slog.Int("status", a.Status))
	}
	if a.FirstByte > 0 {
		attrs = append(attrs, slog.Duration("ttfb", a.TimeToHeaders()))
	}
	if a.RetryWait > 0 {
		attrs = append(attrs, slog.Duration("retry_wait", a.RetryWait), slog.String("retry_source", a.RetrySource))
	}
	if a.Outcome != "" {
		attrs = append(attrs, slog.String("outcome", string(a.Outcome)))
	}
	if a.Err != nil {
		attrs = append(attrs, slog.String("err", errString(a.Err)))
	}
	return attrs
}

// errString is err's text, with the URL of any *url.Error in it stripped of
// its query and user info: some gateways take the API key as a query
// parameter.
func errString(err error) string {
	msg := err.Error()
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL == "" {
		return msg
	}
	redacted := "(url redacted)"
	if u, perr := url.Parse(ue.URL); perr == nil {
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		redacted = u.String()
	}
	return strings.ReplaceAll(msg, ue.URL, redacted)
}
