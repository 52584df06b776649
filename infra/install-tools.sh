#!/usr/bin/env bash
# Install the project's pinned tooling (moto server, cargo-lambda, SAM CLI,
# cfn-lint) into a project-local virtualenv at <repo>/.local/venv, and what the
# browser tests need: Debian's Chromium and ChromeDriver (system packages), and
# axe-core (pinned, from the npm registry, into <repo>/.local/node).
#
# Idempotent: a stamp file records the exact requirement list that was last
# installed; when it matches (and the tools still run) pip is skipped, so a
# second run takes well under a second.
#
# Usage: infra/install-tools.sh            (set FORCE=1 to reinstall)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
VENV="${REPO_ROOT}/.local/venv"
REQS="${SCRIPT_DIR}/requirements-tools.txt"
STAMP="${VENV}/.tools-stamp"
PYTHON="${PYTHON:-python3}"

log() { printf 'install-tools: %s\n' "$*" >&2; }

# Each tool the venv must provide.
TOOLS=(moto_server cargo-lambda sam cfn-lint)

# Print one tool's version; fails if the tool does not start.
# moto_server has no --version flag (so ask the moto package it runs), and
# cargo-lambda is a cargo subcommand (its binary expects "lambda" first).
tool_version() {
  case "$1" in
    moto_server)
      "${VENV}/bin/moto_server" --help >/dev/null &&
        "${VENV}/bin/python" -c 'import moto; print("moto", moto.__version__)' ;;
    cargo-lambda) "${VENV}/bin/cargo-lambda" lambda --version ;;
    *) "${VENV}/bin/$1" --version ;;
  esac
}

tools_ok() {
  local t
  for t in "${TOOLS[@]}"; do
    [[ -x "${VENV}/bin/${t}" ]] || return 1
  done
}

if [[ ! -f "${REQS}" ]]; then
  log "missing ${REQS}"
  exit 1
fi

# Keep the whole .local/ tree (venv, caches) out of git without touching the
# repository's own .gitignore.
mkdir -p "${REPO_ROOT}/.local"
[[ -f "${REPO_ROOT}/.local/.gitignore" ]] || printf '*\n' > "${REPO_ROOT}/.local/.gitignore"

if [[ "${FORCE:-0}" != "1" && -f "${STAMP}" ]] && cmp -s "${REQS}" "${STAMP}" && tools_ok; then
  log "tools already installed in ${VENV#"${REPO_ROOT}"/} (requirements unchanged)"
else
  if [[ ! -x "${VENV}/bin/python" ]]; then
    log "creating virtualenv ${VENV#"${REPO_ROOT}"/} with $(${PYTHON} --version 2>&1)"
    mkdir -p "$(dirname "${VENV}")"
    "${PYTHON}" -m venv "${VENV}"
  fi
  log "installing pinned tools from ${REQS#"${REPO_ROOT}"/} (this can take a few minutes)"
  "${VENV}/bin/python" -m pip install --quiet -r "${REQS}" >&2
  cp "${REQS}" "${STAMP}"
fi

# Verify every tool actually starts.
for t in "${TOOLS[@]}"; do
  if ! ver="$(tool_version "${t}" 2>&1)"; then
    log "FAILED: ${t} --version"
    rm -f "${STAMP}"
    exit 1
  fi
  log "ok: ${t}: ${ver%%$'\n'*}"
done

# The browser tests: Debian's Chromium and its ChromeDriver (the same version, from the same archive).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  log "installing Debian's chromium and chromium-driver for the browser tests"
  as_root() { if [[ "$(id -u)" == "0" ]]; then "$@"; else sudo "$@"; fi; }
  if ! as_root apt-get install -y --no-install-recommends chromium chromium-driver >&2; then
    as_root apt-get update >&2
    as_root apt-get install -y --no-install-recommends chromium chromium-driver >&2
  fi
fi
log "ok: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version 2>/dev/null | head -1)"

# axe-core, run inside the page by the browser tests' accessibility check.
AXE_VERSION="4.10.3"
NODE_DIR="${REPO_ROOT}/.local/node"
AXE="${NODE_DIR}/node_modules/axe-core"
if [[ "$(node -p "require('${AXE}/package.json').version" 2>/dev/null)" != "${AXE_VERSION}" ]]; then
  log "installing axe-core ${AXE_VERSION} into ${NODE_DIR#"${REPO_ROOT}"/}"
  mkdir -p "${NODE_DIR}"
  npm install --silent --no-audit --no-fund --prefix "${NODE_DIR}" "axe-core@${AXE_VERSION}" >&2
fi
log "ok: axe-core $(node -p "require('${AXE}/package.json').version")"

log "done; add ${VENV}/bin to PATH to use them"
