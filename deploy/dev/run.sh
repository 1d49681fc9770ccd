#!/bin/sh
# `make run`: a private development instance under var/ in the foreground.
#
# PostgreSQL in var/pg (socket in var/run, no TCP), TLS certificate in
# var/tls, config in var/mailstead.conf (written on every start from the
# settings below), the demo tenant example.test, then mailstead-admind and
# mailstead-imapd with their logs on this terminal. Ctrl-C or SIGTERM stops
# the daemons and the cluster; data in var/ survives for the next run.
#
# Environment overrides:
#   MAILSTEAD_VAR          state directory (default: ./var)
#   MAILSTEAD_IMAP_PORT    default 1143     MAILSTEAD_IMAPS_PORT  default 1993
#   MAILSTEAD_LMTP_PORT    default 2424 (LMTP delivery, docs/delivery.md)
#   MAILSTEAD_DEMO_PASSWORD  password of demo@example.test when it is created
#                            (default: a random one, printed once)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$top"
var=${MAILSTEAD_VAR:-$top/var}
mkdir -p "$var"
var=$(cd "$var" && pwd -P)
imap_port=${MAILSTEAD_IMAP_PORT:-1143}
imaps_port=${MAILSTEAD_IMAPS_PORT:-1993}
lmtp_port=${MAILSTEAD_LMTP_PORT:-2424}
pg="sh $top/deploy/dev/pg.sh"
user=$($pg user)
conf=$var/mailstead.conf
sock=$var/run/admind.sock

$pg init "$var/pg" "$var/run"

mkdir -p "$var/tls"
chmod 700 "$var/tls"
if [ ! -f "$var/tls/cert.pem" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$var/tls/key.pem" -out "$var/tls/cert.pem" 2>/dev/null
	chmod 600 "$var/tls/key.pem"
	echo "run: made a self-signed certificate in $var/tls"
fi

cat >"$conf" <<CONF
# Written by deploy/dev/run.sh on every start; edit that script or use its
# environment overrides instead.
user = $user
db_conninfo = "host=$var/run dbname=mailstead user=mailstead"
db_connections = 4
schema_dir = $top/schema
admin_socket = $sock
imap_listen = 127.0.0.1:$imap_port
imaps_listen = 127.0.0.1:$imaps_port
lmtp_listen = 127.0.0.1:$lmtp_port
tls_cert = $var/tls/cert.pem
tls_key = $var/tls/key.pem
CONF

pids=""
stopping=0
stop_all() {
	[ $stopping -eq 1 ] && return
	stopping=1
	trap '' INT TERM
	echo "run: stopping"
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	$pg stop "$var/pg" || true
	echo "run: stopped"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

$pg start "$var/pg" "$var/run"
echo "run: PostgreSQL ready (socket in $var/run, log $var/pg/server.log)"

bin/mailstead-admind -c "$conf" &
pids="$pids $!"
i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	if [ $i -gt 150 ] || ! kill -0 $! 2>/dev/null; then
		echo "run: mailstead-admind did not start" >&2
		exit 1
	fi
	sleep 0.1
done

export MAILSTEAD_ADMIN_SOCKET="$sock"
if ! bin/mailstead-admin domain show example.test >/dev/null 2>&1; then
	bin/mailstead-admin domain add example.test
fi
if ! bin/mailstead-admin account show demo@example.test >/dev/null 2>&1; then
	pw=${MAILSTEAD_DEMO_PASSWORD:-$(openssl rand -base64 12)}
	printf '%s\n' "$pw" | bin/mailstead-admin account add demo@example.test --password-stdin
	echo "run: demo account demo@example.test, password: $pw (shown once)"
fi

if [ -x bin/mailstead-imapd ]; then
	bin/mailstead-imapd -c "$conf" &
	pids="$pids $!"
	echo "run: IMAP on 127.0.0.1:$imap_port (STARTTLS), IMAPS on 127.0.0.1:$imaps_port," \
		"LMTP on 127.0.0.1:$lmtp_port"
fi
echo "run: admin socket $sock (try: MAILSTEAD_ADMIN_SOCKET=$sock bin/mailstead-admin domain list)"
echo "run: Ctrl-C to stop"
# Wait for any daemon to exit (or a signal); then stop everything.
while :; do
	for p in $pids; do
		if ! kill -0 "$p" 2>/dev/null; then
			echo "run: a daemon (pid $p) exited" >&2
			exit 1
		fi
	done
	sleep 1 &
	wait $! || true
done
