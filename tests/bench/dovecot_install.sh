#!/bin/sh
# Installs Debian's Dovecot (imapd + lmtpd) for `make bench-compare` when it
# is missing. policy-rc.d forbids starting the system service during the
# install (we never run or configure the system instance: the benchmark
# starts a private one with its own config in a temporary directory), and is
# removed again if we created it. Idempotent: with both packages present it
# only runs dpkg-query.
set -eu

PKGS="dovecot-imapd dovecot-lmtpd"
missing=""
for p in $PKGS; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: Dovecot is missing; install it with: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "bench: installing$missing (the system service is not started)"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created_policy=1
fi
rc=0
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing || rc=$?
[ $created_policy = 1 ] && rm -f "$policy"
exit $rc
