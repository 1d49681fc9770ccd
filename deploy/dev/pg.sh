#!/bin/sh
# A private PostgreSQL cluster for development and tests: unix socket only,
# run as an unprivileged user (PostgreSQL refuses root).
#
#   pg.sh init  DATADIR SOCKDIR   initdb (once) and configure
#   pg.sh start DATADIR SOCKDIR   start, wait until ready, create database
#                                 "mailstead" if missing
#   pg.sh stop  DATADIR           fast shutdown, wait
#   pg.sh user                    print the user the cluster runs as
#
# As root the cluster runs as the system user `mailstead` (made by
# deploy/dev/deps.sh); directories above DATADIR that this user cannot
# traverse get an ACL entry granting it search (x) permission only, so a
# checkout under /root still works. As another user it runs as that user.
set -eu

pg_bindir() {
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	echo "pg.sh: PostgreSQL server binaries not found (run make deps)" >&2
	exit 1
}

run_user() {
	if [ "$(id -u)" -eq 0 ]; then echo mailstead; else id -un; fi
}

as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u mailstead -- "$@"
	else
		"$@"
	fi
}

# Lets the run user reach $1 by granting search permission on ancestors.
make_reachable() {
	[ "$(id -u)" -eq 0 ] || return 0
	dir=$(cd "$1" && pwd -P)
	while [ "$dir" != "/" ]; do
		if ! runuser -u mailstead -- test -x "$dir"; then
			setfacl -m u:mailstead:x "$dir"
		fi
		dir=$(dirname "$dir")
	done
}

prepare_dirs() {
	mkdir -p "$1" "$2"
	if [ "$(id -u)" -eq 0 ]; then
		chown mailstead:mailstead "$1" "$2"
	fi
	chmod 700 "$1"
	chmod 755 "$2"
	make_reachable "$1"
	make_reachable "$2"
}

cmd=${1:-}
case "$cmd" in
init)
	data=$2 sock=$3
	prepare_dirs "$data" "$sock"
	if [ ! -f "$data/PG_VERSION" ]; then
		bindir=$(pg_bindir)
		as_user "$bindir/initdb" -D "$data" -U mailstead --auth=trust \
			--encoding=UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 || {
			cat "$data.initdb.log" >&2
			exit 1
		}
		rm -f "$data.initdb.log"
		cat >>"$data/postgresql.conf" <<CONF
# Mailstead private cluster: no TCP, socket in a private directory.
listen_addresses = ''
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
max_connections = 300
fsync = on
log_min_messages = warning
log_line_prefix = '%m [%p] '
CONF
	fi
	;;
start)
	data=$2 sock=$3
	prepare_dirs "$data" "$sock"
	bindir=$(pg_bindir)
	as_user "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 -s start
	as_user "$bindir/psql" -h "$sock" -U mailstead -d postgres -Atq -c \
		"SELECT 1 FROM pg_database WHERE datname = 'mailstead'" | grep -q 1 ||
		as_user "$bindir/createdb" -h "$sock" -U mailstead mailstead
	;;
stop)
	data=$2
	bindir=$(pg_bindir)
	if [ -f "$data/postmaster.pid" ]; then
		as_user "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 -s stop
	fi
	;;
user)
	run_user
	;;
*)
	echo "usage: pg.sh init|start DATADIR SOCKDIR | stop DATADIR | user" >&2
	exit 2
	;;
esac
