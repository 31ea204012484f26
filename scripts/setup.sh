#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing this project need.
#
# Idempotent and fast when everything is already there: it asks dpkg first and
# only runs apt-get (update, then install) when a package is missing. Needs
# root for that; uses sudo when not root. Nothing else is downloaded, ever:
# every dependency of the build is one of these packages.
#
# Usage: scripts/setup.sh [--check]
#   --check   only report missing packages; exit 1 if any (installs nothing)
set -euo pipefail

# Keep in step with CMakeLists.txt (find_package / pkg_check_modules) and
# scripts/test.sh (clang-14 + libFuzzer for the fuzz stage).
packages=(
  build-essential     # g++-12, make, libc headers
  cmake
  ninja-build
  pkg-config
  libsodium-dev       # crypto: BLAKE2b, Ed25519, X25519
  libssl-dev          # the links: TLS 1.3 (OpenSSL 3.0)
  libjemalloc-dev     # the pbft executable's allocator (not in sanitizer builds)
  libgtest-dev        # tests
  libgmock-dev
  googletest
  libbenchmark-dev    # bench/
  libcli11-dev        # the pbft command line
  libspdlog-dev
  libfmt-dev
  nlohmann-json3-dev  # histories, --json output
  libasio-dev         # TCP runtime (later issues)
  libtomlplusplus-dev # cluster configuration files (cluster.toml)
  librocksdb-dev      # durable storage of a replica (src/storage)
  clang-14            # fuzz build
  libfuzzer-14-dev
  libclang-rt-14-dev  # clang's sanitizer runtimes
  redis-tools         # the gateway's tests: redis-cli, redis-benchmark
  redis-server        # the gateway's tests compare its answers with Redis's
  python3-redis       # the gateway's tests: an unmodified client library
)

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: dpkg/apt-get not found; this script supports Debian 12 (bookworm) only." >&2
  echo "setup.sh: install these packages (or their equivalents) by hand: ${packages[*]}" >&2
  exit 1
fi

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup.sh: all ${#packages[@]} build dependencies are installed."
  exit 0
fi

echo "setup.sh: missing packages: ${missing[*]}"
if ((check_only)); then
  exit 1
fi

if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  . /etc/os-release
  if [[ "${ID:-}" != "debian" || "${VERSION_ID:-}" != "12" ]]; then
    echo "setup.sh: warning: written for Debian 12, this is ${PRETTY_NAME:-unknown}; trying anyway." >&2
  fi
fi

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup.sh: installing packages needs root, and sudo is not available." >&2
  echo "setup.sh: run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run to finish instead of failing at once.
apt_options=(-o DPkg::Lock::Timeout=600)

echo "setup.sh: apt-get update"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" update
echo "setup.sh: apt-get install ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${apt_options[@]}" install -y --no-install-recommends "${missing[@]}"

still_missing=()
for p in "${missing[@]}"; do
  installed "$p" || still_missing+=("$p")
done
if ((${#still_missing[@]} > 0)); then
  echo "setup.sh: failed to install: ${still_missing[*]}" >&2
  exit 1
fi
echo "setup.sh: installed ${#missing[@]} package(s); all ${#packages[@]} build dependencies are present."
