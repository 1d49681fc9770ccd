#!/bin/sh
# Runs every CUnit suite given as argument, then the integration tests, and
# ends with one summary line: "tests: N passed, N failed, N skipped".
# Exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0 broken=""

for t in "$@"; do
	echo "== unit: $t"
	out=$("$t" 2>&1)
	rc=$?
	echo "$out" | sed -n '/Run Summary/,$p'
	line=$(echo "$out" | grep '^UNIT-RESULT ' | tail -n 1)
	if [ -z "$line" ]; then
		echo "$out" | tail -n 30
		failed=$((failed + 1))
		broken="$broken $t"
		continue
	fi
	passed=$((passed + $(echo "$line" | cut -d' ' -f2)))
	failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
	if [ $rc -ne 0 ]; then
		echo "$out" | grep -B2 -A3 -i 'fail' | head -n 60
		broken="$broken $t"
	fi
done

echo "== integration"
log=$(mktemp)
python3 tests/integration/run.py 2>&1 | tee "$log"
line=$(grep '^INTEGRATION-RESULT ' "$log" | tail -n 1)
rm -f "$log"
if [ -z "$line" ]; then
	failed=$((failed + 1))
	broken="$broken integration"
else
	f=$(echo "$line" | cut -d' ' -f3)
	passed=$((passed + $(echo "$line" | cut -d' ' -f2)))
	failed=$((failed + f))
	skipped=$((skipped + $(echo "$line" | cut -d' ' -f4)))
	[ "$f" -ne 0 ] && broken="$broken integration"
fi

[ -n "$broken" ] && echo "failing:$broken"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ -z "$broken" ]
