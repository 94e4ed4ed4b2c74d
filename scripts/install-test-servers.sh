#!/usr/bin/env bash
# Install what the test suite needs that pip does not bring, from Debian's packages:
#   - chromium      headless browser tests (Playwright drives /usr/bin/chromium;
#                   Playwright's own browser download does not work offline)
#   - postgresql    initdb / pg_ctl / postgres for the catalog-on-PostgreSQL tests
#   - wget          the benchmark compares against `wget --warc-file`
#   - fonts-khmeros a Khmer font for the browser (2.5 MB)
# Idempotent: when everything is present it only checks and exits (well under a second).
# Not root and something missing: prints the apt-get command to run and exits 1.
set -euo pipefail

missing=()

# Chromium: the browser tests launch exactly this path.
if [ ! -x /usr/bin/chromium ]; then
    missing+=(chromium)
fi
# A Khmer font, so screenshots of Khmer pages show text rather than empty boxes.
if [ ! -d /usr/share/fonts/truetype/khmeros ]; then
    missing+=(fonts-khmeros)
fi

# PostgreSQL server binaries: on PATH or in Debian's versioned directory.
have_pg=0
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    have_pg=1
else
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            have_pg=1
            break
        fi
    done
fi
if [ "$have_pg" -eq 0 ]; then
    missing+=(postgresql)
fi

if ! command -v wget >/dev/null 2>&1; then
    missing+=(wget)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    cmd="apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-servers: missing Debian packages: ${missing[*]}" >&2
        echo "install-test-servers: run as root:  apt-get update && $cmd" >&2
        exit 1
    fi
    echo "install-test-servers: installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The PostgreSQL fixture runs the server as the `postgres` user when the tests run
# as root (postgres refuses to run as root). Debian's package creates that user;
# binaries that came some other way may not have.
if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "install-test-servers: creating system user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres
fi

exit 0
