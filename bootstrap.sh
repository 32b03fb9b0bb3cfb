#!/usr/bin/env bash
# One command from a fresh clone to results:
#   ./bootstrap.sh repro    set up .venv (exactly the locked packages + galzoo), then `dvc repro` the whole DAG
#   ./bootstrap.sh test     set up the same way, then run the test suite (what .ci/run calls)
#   ./bootstrap.sh lock     (maintainers) re-resolve requirements.lock (GALZOO_TORCH=cuda: requirements-cuda.lock)
# Extra arguments go to dvc repro / pytest / pip-compile.
#
# The environment is the lock file, installed with `pip install --require-hashes --no-deps`:
#   requirements.lock        every package pinned and hashed, with PyTorch's CPU build of torch (what dvc.lock
#                            was made with, and what CI installs)
#   requirements-cuda.lock   the same pins with PyPI's default torch build and the CUDA packages it needs
# GALZOO_TORCH=cpu|cuda picks one; unset, the CPU lock is used where pip's configuration offers torch's CPU
# build (PyTorch's CPU wheel index, or a folder of wheels), else the CUDA lock.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
export NO_ALBUMENTATIONS_UPDATE=1 DVC_NO_ANALYTICS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export PATH="$PWD/.venv/bin:$PATH"
# The lock is installed with --no-compile: Python caches the bytecode of what galzoo imports on first use.
# A PYTHONDONTWRITEBYTECODE inherited from the caller would stop that, and every stage would compile torch,
# pandas and DVC afresh (a stage's start 18 s instead of 8 s on 2 cores; docs/results-history.md).
unset PYTHONDONTWRITEBYTECODE
LOCK_PYTHON=3.11   # the Python the locks were resolved with (their header says so)

locked_version() {  # locked_version PACKAGE LOCKFILE
  sed -n "s/^$1==\([^ ]*\).*/\1/p" "$2"
}

choose_lock() {
  case "${GALZOO_TORCH:-auto}" in
    cpu) echo requirements.lock ;;
    cuda) echo requirements-cuda.lock ;;
    auto)
      local cpu_torch offered
      cpu_torch=$(locked_version torch requirements.lock)
      offered=$(pip index versions torch 2>/dev/null || true)   # what pip's configuration can install
      if grep -qF "$cpu_torch" <<<"$offered"; then
        echo requirements.lock
      else
        echo "== pip offers no torch $cpu_torch (PyTorch's CPU build, which made dvc.lock): using PyPI's default" \
          "torch build and its CUDA packages (requirements-cuda.lock, several GB). For the CPU build, add PyTorch's" \
          "CPU wheel index to pip's configuration (docs), or set GALZOO_TORCH=cpu to see why it is not found." >&2
        echo requirements-cuda.lock
      fi
      ;;
    *) echo "GALZOO_TORCH must be cpu or cuda (or unset), not '$GALZOO_TORCH'" >&2; exit 2 ;;
  esac
}

setup() {
  if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $($python --version)"
    "$python" -m venv .venv
  fi
  local want stamp=.venv/.galzoo-installed lock stale
  want=$(cat pyproject.toml requirements.lock requirements-cuda.lock <(echo "${GALZOO_TORCH:-auto}") |
    sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    if ! .venv/bin/python -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$LOCK_PYTHON'.split('.'))))"; then
      echo "== warning: .venv has Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])');" \
        "the locks were made with Python $LOCK_PYTHON, and pip refuses a file whose hash they lack" >&2
    fi
    lock=$(choose_lock)
    echo "== installing $lock (torch $(locked_version torch "$lock")) and galzoo into .venv"
    # Exactly the lock: first remove what it does not pin, or pins at another version (pip would keep a
    # torch 2.13.0+cpu where the lock asks for 2.13.0), then install it without resolving anything.
    stale=$(.venv/bin/python - "$lock" <<'EOF'
import re, sys
from importlib.metadata import distributions
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
pins = {norm(n): v for n, v in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", open(sys.argv[1]).read(), re.M)}
for dist in distributions():
    name = norm(dist.metadata["Name"] or "")
    if name not in ("pip", "galzoo", "") and pins.get(name) != dist.version:
        print(dist.metadata["Name"])
EOF
    )
    if [ -n "$stale" ]; then
      echo "== removing what $lock does not pin, or pins at another version: $(echo $stale)"
      # shellcheck disable=SC2086
      pip uninstall -q -y $stale
    fi
    # --no-compile: Python compiles the modules galzoo imports on first use, not all of site-packages now
    # (halves the install: 58 s instead of ~1 min 50 s on 2 cores, docs/results-history.md)
    pip install -q --no-compile --require-hashes --no-deps -r "$lock"
    # galzoo itself, built by the locked setuptools (no isolated build fetching an unpinned one)
    pip install -q --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
  fi
  dvc config core.analytics false
}

lock() {
  # Re-resolves one lock with pip's configuration as it is; pip-compile keeps every pin already in the output
  # file that still fits pyproject.toml (`./bootstrap.sh lock --upgrade-package numpy` moves one on).
  #   GALZOO_TORCH=cpu (default)  requirements.lock: pip must offer torch's CPU build (PyTorch's CPU index)
  #   GALZOO_TORCH=cuda           requirements-cuda.lock: pip must offer torch's default build only (PyPI), so
  #                               run it with a pip configuration that has no CPU build in it
  local variant=${GALZOO_TORCH:-cpu} out torch command="./bootstrap.sh lock"
  case "$variant" in
    cpu) out=requirements.lock ;;
    cuda) out=requirements-cuda.lock command="GALZOO_TORCH=cuda $command" ;;
    *) echo "GALZOO_TORCH must be cpu or cuda, not '$variant'" >&2; exit 2 ;;
  esac
  tools=$(mktemp -d)   # global: the EXIT trap runs after this function has returned
  trap 'rm -rf "$tools"' EXIT
  echo "== pip-tools into a throwaway venv"
  "$python" -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q "pip-tools>=7.4,<8"
  [ ! -f "$out" ] || cp "$out" "$tools/$out"   # its pins are kept; written back only if the build is right
  if [ "$variant" = cuda ]; then
    # Seed it with the CPU lock's pins (pip-compile keeps them), torch without its CPU label and hash, and the
    # CUDA packages the previous CUDA lock pinned, so that the two locks agree on every shared package.
    "$tools/venv/bin/python" - "$tools/$out" <<'EOF'
import re
import sys
from pathlib import Path

def entries(text):  # {name: entry text}, an entry being a pin line with its hash and comment lines
    out, name = {}, None
    for line in text.splitlines(keepends=True):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if m:
            name = m[1].lower()
            out[name] = ""
        if m or (name and line.startswith(" ")):  # the pin, its hashes, its "# via" lines
            out[name] += line
    return out

cpu = entries(Path("requirements.lock").read_text())
old = Path(sys.argv[1])
seed = {**(entries(old.read_text()) if old.exists() else {}), **cpu}
seed["torch"] = re.sub(r"\+cpu", "", seed["torch"].split(" \\")[0]) + "\n"
old.write_text("".join(seed[k] for k in sorted(seed)))
EOF
  fi
  echo "== $out: torch's $variant build, as pip's configuration offers it"
  CUSTOM_COMPILE_COMMAND="$command" "$tools/venv/bin/pip-compile" --quiet \
    --allow-unsafe --extra dev --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
    --no-emit-trusted-host "$@" --output-file "$tools/$out" pyproject.toml
  torch=$(locked_version torch "$tools/$out")
  if { [ "$variant" = cpu ] && [[ "$torch" != *+cpu ]]; } || { [ "$variant" = cuda ] && [[ "$torch" == *+* ]]; }; then
    echo "$out got torch $torch, not the $variant build: pip's configuration decides which builds it offers" \
      "(the CPU build comes from PyTorch's CPU wheel index added as an extra index: docs/performance.md)" >&2
    exit 1
  fi
  cp "$tools/$out" "$out"
  echo "== done: check with  python -m pytest tests/test_dependency_lock.py"
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
  lock)
    lock "$@"
    ;;
  *)
    echo "usage: $0 repro|test|lock [args...]" >&2
    exit 2
    ;;
esac
