# Services the test suite uses; sourced by scripts/test.sh.
# start_postgres: install (Debian) and start a local PostgreSQL, create the test role and
# database, and export HYPERLOOP_TEST_DATABASE_URL so database tests also run on it.
start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      return 1
    fi
  fi
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
  [ -n "$version" ] || return 1
  pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main status >/dev/null || return 1
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='hyperloop'\"" | grep -q 1 || \
    su postgres -c "psql -qc \"CREATE ROLE hyperloop LOGIN PASSWORD 'hyperloop' CREATEDB\""
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='hyperloop_test'\"" | grep -q 1 || \
    su postgres -c "psql -qc \"CREATE DATABASE hyperloop_test OWNER hyperloop\""
  export HYPERLOOP_TEST_DATABASE_URL="postgresql+psycopg://hyperloop:hyperloop@127.0.0.1:5432/hyperloop_test"
}

# start_browser: install Debian's chromium (Playwright cannot download its own browsers here)
# and export HYPERLOOP_CHROMIUM for the browser tests (tests/browser, marker `browser`).
start_browser() {
  if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/noto ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      # The emoji font renders the status icons (⌛ ⏳ 🌟 ❗ 💣) in screenshots.
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        chromium fonts-noto-color-emoji >/dev/null
    else
      return 1
    fi
  fi
  [ -x /usr/bin/chromium ] || return 1
  export HYPERLOOP_CHROMIUM=/usr/bin/chromium
}
