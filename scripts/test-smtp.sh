# Sourced by scripts/test.sh: a real SMTP server for the notification tests (Python's
# aiosmtpd from PyPI, in its own venv under target/), its interpreter exported as
# LOCKSMITH_TEST_SMTPD_PYTHON. The tests start it on a free port themselves.
AIOSMTPD_VERSION=1.4.6
ensure_test_smtpd() {
    local venv="${LOCKSMITH_SMTPD_VENV:-$PWD/target/smtpd-venv}"
    if ! "$venv/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
        echo "[test] installing aiosmtpd $AIOSMTPD_VERSION into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
    fi
    export LOCKSMITH_TEST_SMTPD_PYTHON="$venv/bin/python"
}
