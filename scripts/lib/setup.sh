# Shared set-up steps of scripts/test, scripts/demo and scripts/bench/*. Sourced, not run.
# Everything here is idempotent and quiet when there is nothing to do.

VENV="${SUITE_VENV:-$ROOT/.venv}"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

apt_install() {
    # apt_install PKG... : install Debian packages, once, quietly; explain when we cannot.
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: please install: $*" >&2; return 1
    fi
    if [ -z "${_APT_UPDATED:-}" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || {
            echo "setup: cannot run apt-get (not root?). Please install: $*" >&2; return 1; }
        _APT_UPDATED=1
    fi
    echo "setup: apt-get install $*" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_python_venv() {
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    elif ! "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
        # a .venv made by `uv sync` (the uv workspace) has no pip: give it one
        "$VENV/bin/python" -m ensurepip >/dev/null
    fi
}

ensure_mysql() {
    # A private MySQL server for the MySQL tests (Debian sid's mysql-server-core, unpacked into
    # .cache/mysql-sid, the system untouched): see scripts/lib/fetch-mysql.sh. Cached after the
    # first time; never fatal here (the MySQL fixtures skip, or fail under CI=true).
    . "$ROOT/scripts/lib/fetch-mysql.sh"
    fetch_mysql || true
}

ensure_system_tools() {
    ensure_mysql
    # Real components the tests use: a MariaDB server (started privately by the tests),
    # Debian's lltsv (differential test), rotatelogs/datamash/pv (benchmarks), iproute2.
    local want=()
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || want+=(mariadb-server)
    command -v mariadb >/dev/null 2>&1 || want+=(mariadb-client)
    command -v mariadb-install-db >/dev/null 2>&1 || want+=(mariadb-server)
    [ -x /usr/bin/lltsv ] || want+=(lltsv)  # Debian's, not ours (differential test)
    command -v datamash >/dev/null 2>&1 || want+=(datamash)
    command -v rotatelogs >/dev/null 2>&1 || want+=(apache2-utils)
    command -v pv >/dev/null 2>&1 || want+=(pv)
    [ -x /usr/bin/time ] || want+=(time)
    command -v ping >/dev/null 2>&1 || want+=(iputils-ping)
    command -v ip >/dev/null 2>&1 || want+=(iproute2)
    command -v unshare >/dev/null 2>&1 || want+=(util-linux)
    command -v gcc >/dev/null 2>&1 || want+=(gcc)
    [ -x /usr/sbin/logrotate ] || want+=(logrotate)  # no-excl-open: the create race, for real
    command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || want+=(haproxy)  # ppdp peers, bench
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || want+=(nginx)
    [ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || want+=(libnginx-mod-stream)
    command -v podman >/dev/null 2>&1 || want+=(podman)  # motarei: the fake Docker API's shapes
    if [ ${#want[@]} -gt 0 ]; then
        # shellcheck disable=SC2207
        want=($(printf '%s\n' "${want[@]}" | sort -u))
        apt_install "${want[@]}" || {
            echo "setup: the tests need: ${want[*]} (Debian package names)." >&2
            echo "setup: install them as root: apt-get install ${want[*]}" >&2
            return 1
        }
    fi
}

ensure_tox() {
    if [ ! -x "$VENV/bin/tox" ] || ! "$VENV/bin/python" -c 'import tox_uv' >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check 'tox>=4' tox-uv
    fi
    # tox-uv brings uv; scripts/install-pkgs.py uses it when it is on PATH
    export PATH="$VENV/bin:$PATH"
}

ensure_tools_installed() {
    # Install every package of the repository into $VENV (for demo and benchmarks).
    "$VENV/bin/python" scripts/install-pkgs.py --all
}
