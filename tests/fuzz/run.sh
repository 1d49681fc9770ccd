#!/bin/sh
# Builds every libFuzzer target tests/fuzz/fuzz_<name>.c with clang and runs
# each for a bounded time (first argument, seconds; default 60) over its seed
# corpus tests/fuzz/seeds/<name>/. A target names the sources it needs on a
# line "FUZZ-SOURCES: a.c b.c" in its header comment.
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
command -v clang >/dev/null 2>&1 || {
	if [ "$(id -u)" -eq 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
	else
		echo "fuzz: install clang and libclang-rt-14-dev" >&2; exit 1
	fi
}
out=build/fuzz
mkdir -p "$out"
status=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	short=${name#fuzz_}
	sources=$(sed -n 's/.*FUZZ-SOURCES: *//p' "$src" | head -n 1)
	echo "fuzz: building $name"
	# shellcheck disable=SC2086
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-Iserver/lib -Iserver -Iserver/imap -Iserver/mime -Iadmin \
		$(pkg-config --cflags libpq 2>/dev/null) \
		-o "$out/$name" "$src" $sources $(pkg-config --libs jansson 2>/dev/null)
	corpus="$out/corpus-$short"
	mkdir -p "$corpus"
	seeds="tests/fuzz/seeds/$short"
	echo "fuzz: running $name for ${secs}s"
	if ! "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$out/$name-" "$corpus" "$seeds" >"$out/$name.log" 2>&1; then
		echo "fuzz: $name FAILED, see $out/$name.log" >&2
		tail -n 40 "$out/$name.log" >&2
		status=1
	else
		tail -n 1 "$out/$name.log"
	fi
done
exit $status
