#!/usr/bin/env bash
# Runs the side-by-side benchmarks N rounds (default 5) and prints, for each
# group, every contender's median ns/op, allocs/op and its ratio to
# llmhttp's, all from that one run. Rounds of -count 1 interleave the
# contenders, so a load swing on a shared machine hits them alike.
# Usage, from bench/: dnscache/ratios.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
go test -c -o /tmp/dnscache-bench.test ./dnscache/
for _ in $(seq "${1:-5}"); do
	(cd dnscache && /tmp/dnscache-bench.test -test.run '^$' -test.bench . -test.benchtime 500ms -test.benchmem)
done | awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	split(name, p, "/"); group = p[1]; who = substr(name, length(group) + 2)
	key = group SUBSEP who
	if (!(key in n)) { order[++k] = key }
	v[key, ++n[key]] = $3; allocs[key] = $7
}
END {
	for (i = 1; i <= k; i++) {
		key = order[i]; m = n[key]
		for (a = 1; a <= m; a++) s[a] = v[key, a]
		for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
		med[key] = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
	}
	for (i = 1; i <= k; i++) {
		key = order[i]; split(key, p, SUBSEP)
		base = med[p[1] SUBSEP "llmhttp"]
		printf "%-28s %-28s %12.1f ns/op %4s allocs/op  x%.2f of llmhttp\n", p[1], p[2], med[key], allocs[key], med[key] / base
	}
}'
