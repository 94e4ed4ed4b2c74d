#!/usr/bin/env bash
# Install what the test suite needs that pip does not bring, from Debian's packages:
#   - chromium      headless browser tests (Playwright drives /usr/bin/chromium;
#                   Playwright's own browser download does not work offline)
#   - postgresql    initdb / pg_ctl / postgres for the catalog-on-PostgreSQL tests
#   - wget          the benchmark compares against `wget --warc-file`
#   - httrack       the benchmark compares against it too
#   - minisign      tests verify the signed mirror list with the real `minisign -V`
#   - fonts-khmeros a Khmer font for the browser (2.5 MB)
#   - kiwix-tools   kiwix-serve, what a Kiwix reader sees of a ZIM bundle (tests/support/kiwix_server.py)
#   - swift, swift-proxy, swift-account, swift-container, swift-object
#                   OpenStack Swift with its S3 layer (s3api): the real S3 server of the
#                   object-store tests (tests/support/store_servers.py); 47 MB, starts nothing itself
#   - nodejs, npm   only when missing, to install js-ipfs below
# and, from npm, js-ipfs 0.66.1 (a real IPFS node with Kubo's RPC API; Kubo's own
# installers download a binary from outside and fail) into .test-servers/ipfs, pinned
# by scripts/ipfs-node/package-lock.json;
# and, from PyPI, pywb (pinned below) in a venv of its own, .test-servers/pywb: the
# reference CDX server the /cdx tests compare Refuge's answers with (tests/support/pywb_server.py);
# and, from npm, ReplayWeb.page's built viewer (ui.js, sw.js) into .test-servers/replaywebpage.
# Idempotent: when everything is present it only checks and exits (well under a second).
# Not root and a Debian package missing: prints the apt-get command to run and exits 1.
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

# The benchmark's other comparison crawler, and the standard tool that checks our
# minisign-format signatures (tests/mirror/publish/test_signing.py).
if ! command -v httrack >/dev/null 2>&1; then
    missing+=(httrack)
fi
if ! command -v minisign >/dev/null 2>&1; then
    missing+=(minisign)
fi
# kiwix-serve serves the ZIM bundles to the browser and search tests (tests/mirror/export/test_zim.py).
if ! command -v kiwix-serve >/dev/null 2>&1; then
    missing+=(kiwix-tools)
fi

# Swift: one binary per package; the fixture runs these four servers and builds rings
# with the package's Python modules.
for pair in swift:swift-ring-builder swift-proxy:swift-proxy-server \
            swift-account:swift-account-server swift-container:swift-container-server \
            swift-object:swift-object-server; do
    if [ ! -x "/usr/bin/${pair#*:}" ]; then
        missing+=("${pair%%:*}")
    fi
done

# Node and npm for js-ipfs (any Node >= 18; the fixture polyfills what 20 lacks).
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
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

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# pywb into the gitignored .test-servers/pywb, a venv of its own (its pins are not Refuge's).
# The stamp holds the pin, so a new pin reinstalls and an unchanged one costs a file read.
pywb_spec="pywb==2.10.0"
pywb_dir="$repo/.test-servers/pywb"
if [ ! -x "$pywb_dir/bin/wayback" ] || [ "$(cat "$pywb_dir/.installed" 2>/dev/null)" != "$pywb_spec" ]; then
    echo "install-test-servers: installing $pywb_spec into $pywb_dir (pip, about a minute)"
    rm -rf "$pywb_dir"
    "${PYTHON:-python3}" -m venv "$pywb_dir"
    "$pywb_dir/bin/python" -m pip install -q --disable-pip-version-check "$pywb_spec" >/dev/null
    if ! "$pywb_dir/bin/python" -c "import pywb" || [ ! -x "$pywb_dir/bin/wb-manager" ]; then
        echo "install-test-servers: pip finished but pywb does not import in $pywb_dir" >&2
        exit 1
    fi
    echo "$pywb_spec" > "$pywb_dir/.installed"
fi

# ReplayWeb.page's two built files (ui.js, sw.js) from its npm package, into the gitignored
# .test-servers/replaywebpage: the WACZ test opens a Refuge package in the viewer archivists
# use. Only the tarball is fetched (`npm pack`; its build dependencies are not needed) and
# its SHA-512 must be the registry's published integrity for the pinned version.
rwp_version="2.5.3"
rwp_integrity="sha512-nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ=="
rwp_dir="$repo/.test-servers/replaywebpage"
if [ ! -f "$rwp_dir/sw.js" ] || [ "$(cat "$rwp_dir/.installed" 2>/dev/null)" != "$rwp_version" ]; then
    echo "install-test-servers: fetching replaywebpage@$rwp_version into $rwp_dir (npm pack)"
    rwp_tmp="$(mktemp -d)"
    (cd "$rwp_tmp" && npm pack --silent "replaywebpage@$rwp_version" >/dev/null)
    got="sha512-$(openssl dgst -sha512 -binary "$rwp_tmp/replaywebpage-$rwp_version.tgz" | base64 -w0)"
    if [ "$got" != "$rwp_integrity" ]; then
        echo "install-test-servers: replaywebpage-$rwp_version.tgz is not the published package ($got)" >&2
        rm -rf "$rwp_tmp"
        exit 1
    fi
    rm -rf "$rwp_dir"
    mkdir -p "$rwp_dir"
    tar -xzf "$rwp_tmp/replaywebpage-$rwp_version.tgz" -C "$rwp_dir" --strip-components=1 package/ui.js package/sw.js package/LICENSE
    rm -rf "$rwp_tmp"
    echo "$rwp_version" > "$rwp_dir/.installed"
fi

# js-ipfs from npm, into the repo's gitignored .test-servers/ipfs. The stamp holds a hash
# of the committed package files, so a changed lock reinstalls and an unchanged one costs
# only the hash.
src="$repo/scripts/ipfs-node"
dest="$repo/.test-servers/ipfs"
stamp="$dest/.installed"
want="$(cat "$src/package.json" "$src/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ -x "$dest/node_modules/.bin/jsipfs" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
mkdir -p "$dest"
rm -f "$stamp"
cp "$src/package.json" "$dest/package.json"
# The overrides in package.json replace two optional WebRTC packages whose install
# downloads from outside the npm registry (npm retries that for minutes, then fails).
npm_flags=(--no-audit --no-fund --loglevel=error)
if [ -f "$src/package-lock.json" ]; then
    echo "install-test-servers: installing js-ipfs into $dest (npm ci, about a minute)"
    cp "$src/package-lock.json" "$dest/package-lock.json"
    (cd "$dest" && npm ci "${npm_flags[@]}" >/dev/null)
else
    # No lock yet: resolve one and put it beside package.json to be committed.
    echo "install-test-servers: no scripts/ipfs-node/package-lock.json; resolving one (npm install)"
    rm -f "$dest/package-lock.json"
    (cd "$dest" && npm install "${npm_flags[@]}" >/dev/null)
    cp "$dest/package-lock.json" "$src/package-lock.json"
    echo "install-test-servers: wrote scripts/ipfs-node/package-lock.json: commit it"
    want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
fi
if [ ! -x "$dest/node_modules/.bin/jsipfs" ]; then
    echo "install-test-servers: npm finished but $dest/node_modules/.bin/jsipfs is missing" >&2
    exit 1
fi
echo "$want" > "$stamp"

exit 0
