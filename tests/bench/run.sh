#!/bin/sh
# `make bench` / `make bench-compare`: runs tests/bench/bench.py (Mailstead
# alone with quick settings, or --compare for the side-by-side run with a
# private Dovecot). Extra arguments go to bench.py (see its --help).
set -eu
cd "$(dirname "$0")/../.."
python3 tests/bench/bench.py "$@"
# IDLE push latency and resident memory per idle session, tests/bench/
# idle_bench.py (plain `make bench` only): IDLE_SESSIONS=10000 for the large
# run, IDLE_SESSIONS=0 to skip it.
case " $* " in
*" --compare "*) ;;
*) [ "${IDLE_SESSIONS:-1000}" -gt 0 ] && python3 tests/bench/idle_bench.py -n "${IDLE_SESSIONS:-1000}" ;;
esac
exit 0
