#!/bin/sh
# Installs the Debian packages Mailstead needs to build, run and test, when
# they are missing. Idempotent: with everything present it only runs dpkg-query.
# As root it installs with apt-get and creates the unprivileged `mailstead`
# user the private PostgreSQL and the daemons run as; otherwise it prints the
# exact command to run.
set -eu

PKGS="${MAILSTEAD_EXTRA_PKGS:-} gcc make pkg-config libc6-dev libpq-dev libssl-dev libevent-dev
libjansson-dev libcunit1-dev libargon2-dev libcrypt-dev postgresql postgresql-contrib
python3 openssl acl procps util-linux postfix postfix-pgsql isync offlineimap3"

missing=""
for p in $PKGS; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages:$missing" >&2
		echo "deps: install them with: sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Debian's postgresql package would start a system-wide cluster on
	# port 5432, and postfix a system MTA on port 25; we only want their
	# binaries (tests/integration/test_postfix.py runs a private Postfix),
	# so policy-rc.d forbids starting services while we install.
	policy=/usr/sbin/policy-rc.d
	created_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' > "$policy"
		chmod 755 "$policy"
		created_policy=1
	fi
	apt-get install -y -qq --no-install-recommends $missing || {
		[ $created_policy = 1 ] && rm -f "$policy"
		exit 1
	}
	[ $created_policy = 1 ] && rm -f "$policy"
fi

if [ "$(id -u)" -eq 0 ] && ! id mailstead >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin mailstead
	echo "deps: created system user mailstead"
fi
exit 0
