#!/usr/bin/env bash
# One command from a fresh clone to results:
#   ./bootstrap.sh repro    set up .venv (pinned CPU torch + galzoo), then `dvc repro` the whole DAG
#   ./bootstrap.sh test     set up the same way, then run the test suite (what .ci/run calls)
# Extra arguments go to dvc repro / pytest.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
export NO_ALBUMENTATIONS_UPDATE=1 DVC_NO_ANALYTICS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export PATH="$PWD/.venv/bin:$PATH"

setup() {
  if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $($python --version)"
    "$python" -m venv .venv
  fi
  local want stamp=.venv/.galzoo-installed
  want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing torch 2.13.0 and galzoo into .venv"
    # torch 2.13.0 as pip is configured to find it: a CPU build where pip's configuration offers one (as on
    # the project's CI machines), else PyPI's default build (with CUDA, several GB). For a CPU-only build
    # elsewhere, point pip at PyTorch's CPU wheel index first (PIP_EXTRA_INDEX_URL; see pytorch.org).
    pip install -q torch==2.13.0
    pip install -q -c constraints.txt -e ".[dev]"
    echo "$want" > "$stamp"
  fi
  dvc config core.analytics false
}

cmd=${1:-}
shift || true
case "$cmd" in
  repro)
    setup
    git rev-parse --git-dir >/dev/null 2>&1 || { echo "galzoo needs a git checkout (git clone ...)" >&2; exit 2; }
    dvc repro "$@"
    echo "== done: metrics/ (report: metrics/report.md), plots/"
    ;;
  test)
    setup
    HF_HUB_OFFLINE=1 python -m pytest "$@"
    ;;
  *)
    echo "usage: $0 repro|test [args...]" >&2
    exit 2
    ;;
esac
