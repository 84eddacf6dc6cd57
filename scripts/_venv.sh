# Shared by scripts/demo and scripts/test: a virtualenv for the project in $VENV (default ./.venv).
VENV="${VENV:-$PWD/.venv}"

ensure_venv() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "error: Liên Thông needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
        exit 1
    fi
    [[ -x "$VENV/bin/pip" ]] && return 0
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
        # Debian ships venv/ensurepip separately (python3-venv).
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            rm -rf "$VENV"
            "$python" -m venv "$VENV"
        else
            echo "error: cannot create a virtualenv; install python3-venv (apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
}
