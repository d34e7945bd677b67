# Fetch a private MySQL server (Debian sid's mysql-server-core + mysql-client-core and the shared
# libraries they need, glibc included) into a cache directory, without changing the system:
# a private apt list for sid, `apt-get download`, `dpkg -x`. The binaries run through sid's own
# dynamic loader (see scripts/mysql_sandbox.py), so bookworm's libraries are never replaced.
# Sourced by scripts/lib/setup.sh (or run: bash scripts/lib/fetch-mysql.sh [DEST]).
# Idempotent: once DEST/.ok exists and mysqld answers --version, nothing is done.
# Non-fatal: returns 1 with a message when it cannot (no apt-get/dpkg, no network); the MySQL
# test fixtures then skip (or fail under CI=true).

MYSQL_SID_SUITE="${MYSQL_SID_SUITE:-sid}"

mysql_cache_dir() {
    echo "${SUITE_MYSQL_ROOT:-${ROOT:-$PWD}/.cache/mysql-sid}"
}

_mysql_runs() {
    local root="$1"
    [ -x "$root/usr/sbin/mysqld" ] && [ -e "$root/usr/lib64/ld-linux-x86-64.so.2" ] || return 1
    "$root/usr/lib64/ld-linux-x86-64.so.2" \
        --library-path "$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu" \
        "$root/usr/sbin/mysqld" --version >/dev/null 2>&1
}

fetch_mysql() {
    local root="${1:-$(mysql_cache_dir)}"
    if [ -f "$root/.ok" ] && _mysql_runs "$root"; then
        return 0
    fi
    if [ "$(uname -m)" != x86_64 ] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
        echo "setup: MySQL tests need Debian (apt-get, dpkg) on x86_64; they will be skipped" >&2
        return 1
    fi
    local apt="$root.apt"
    local tmp="$root.new"
    rm -rf "$tmp"
    mkdir -p "$apt/lists/partial" "$apt/debs/partial" "$tmp" || return 1
    echo "deb http://deb.debian.org/debian $MYSQL_SID_SUITE main" >"$apt/sources.list"
    local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
                -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::archives=$apt/debs"
                -o "Dir::Cache=$apt" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
    echo "setup: fetching MySQL server from Debian $MYSQL_SID_SUITE into $root" >&2
    apt-get -qq "${opts[@]}" update >/dev/null 2>&1 || {
        echo "setup: cannot read the Debian $MYSQL_SID_SUITE package list (no network?); MySQL tests will be skipped" >&2
        rm -rf "$tmp"; return 1; }
    # mysqld, the client, and every library in their dependency closure (perl and its libraries
    # are left out: only the mysqld_safe/mysqld_multi scripts want them)
    local pkgs
    pkgs=$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
               --no-breaks --no-replaces --no-enhances mysql-server-core mysql-client-core 2>/dev/null \
           | grep -v '^[ <]' | sort -u | grep -Ev '^(perl|libperl|perl-|libgdbm|libdb5)')
    if [ -z "$pkgs" ]; then
        echo "setup: mysql-server-core not found in Debian $MYSQL_SID_SUITE; MySQL tests will be skipped" >&2
        rm -rf "$tmp"; return 1
    fi
    # shellcheck disable=SC2086
    (cd "$apt/debs" && apt-get -qq "${opts[@]}" download $pkgs >/dev/null 2>&1) || {
        echo "setup: downloading the MySQL packages failed; MySQL tests will be skipped" >&2
        rm -rf "$tmp"; return 1; }
    local d
    for d in "$apt"/debs/*.deb; do
        dpkg -x "$d" "$tmp" || { rm -rf "$tmp"; return 1; }
    done
    if ! _mysql_runs "$tmp"; then
        echo "setup: the fetched mysqld does not run here; MySQL tests will be skipped" >&2
        rm -rf "$tmp"; return 1
    fi
    rm -rf "$root" "$apt/debs"
    mv "$tmp" "$root"
    _mysql_runs "$root" || return 1
    "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu" \
        "$root/usr/sbin/mysqld" --version 2>/dev/null | sed "s|^.*/mysqld *|mysqld |" >"$root/.ok"
    echo "setup: $(cat "$root/.ok")" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    fetch_mysql "$@"
fi
