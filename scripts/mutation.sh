#!/usr/bin/env bash
# Mutation testing of the security- and integrity-critical modules with mutmut (issue 14).
#
#   scripts/mutation.sh                 every module below, one after the other
#   scripts/mutation.sh auth merge      only these modules
#   MUTATION_SAMPLE='hub_publish.loading.x__is_trusted__mutmut_*' scripts/mutation.sh loading
#                                       only the mutants matching the glob (the CI smoke run)
#   MUTATION_JOBS=2                     parallel mutant runs (default 1: the machines are shared)
#   MUTATION_TESTS='tests/x.py ...'     run these tests instead of the module's list below
#   MUTATION_OUT=dir                    where the reports go (default .mutation/)
#
# Each module runs in a throw-away copy of the working tree (tracked and untracked, not ignored,
# files), with mutmut's config ([tool.mutmut] in pyproject.toml) narrowed to that module and its
# fast tests. PYTHONPATH points at the copy's mutants/ folder so that child processes (a server
# started by a test, a CLI run) import the mutated code too, and MUTANT_UNDER_TEST (set by mutmut)
# switches the mutant on in them as well. Prints "<module>: killed/total (score%)" per module and
# writes the surviving mutants, each with its diff, to .mutation/<module>.txt. The scores and the
# accepted survivors are recorded in docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=$root/.venv/bin/python; else py=$(command -v python3); fi
fi
mutmut=$(dirname "$py")/mutmut

declare -A FILES=(
  [auth]="hub_publish/server/auth.py"
  [storage]="hub_publish/server/storage.py"
  [loading]="hub_publish/loading.py"
  [format]="hub_publish/format.py"
  [merge]="model_cards/merge.py"
  [sanitizer]="hub_publish/server/preview.py"
)
# The fast tests of each module (in-process; a test that starts a server process per run makes
# every mutant pay for it). Not here either: tests whose child processes run in another working
# directory (e.g. test_loading_safety's class-free check): under mutmut the child runs the mutated
# code in "stats" mode, which needs the copy's pyproject.toml in its working directory.
declare -A TESTS=(
  [auth]="tests/test_unit_auth.py tests/test_auth_matrix.py"
  [storage]="tests/test_unit_storage.py"
  [loading]="tests/test_unit_loading.py"
  [format]="tests/test_unit_loading.py"
  [merge]="tests/test_unit_merge.py"
  [sanitizer]="tests/test_unit_sanitizer.py"
)
# The part of a module that is mutated, when not all of it (mutmut mutant-name globs). format.py:
# the folder verification (the manifest and Metadata parsing are covered end to end); loading.py:
# the trust policy (the resolve / rebuild / weights helpers around them
# are exercised end to end by the Hub and round-trip tests).
declare -A SCOPE=(
  [format]="hub_publish.format.x_verify_folder__* hub_publish.format.x__check_files__* hub_publish.format.x_evict_from_cache__* hub_publish.format.x_evict_on_error__*"
  [loading]="hub_publish.loading.x__is_trusted__* hub_publish.loading.x__resolve_class__* hub_publish.loading.x__check_class__* hub_publish.loading.x__load_class_free__* hub_publish.loading.x__check_known_layers__* hub_publish.loading.x__unknown_layers__* hub_publish.loading.x__deserialize__*"
)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(auth storage format loading merge sanitizer)
out=${MUTATION_OUT:-$root/.mutation}
mkdir -p "$out"

for module in "${modules[@]}"; do
  file=${FILES[$module]:?unknown module $module (one of: ${!FILES[*]})}
  work=$(mktemp -d "${TMPDIR:-/tmp}/hub-publish-mutation-$module.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work" 2>/dev/null || true
  (
    cd "$work"
    # Narrow the config to this module and its tests (the lists are one line each in pyproject.toml).
    "$py" - "$file" ${MUTATION_TESTS:-${TESTS[$module]}} <<'PY'
import re, sys
from pathlib import Path
path = Path("pyproject.toml")
text = path.read_text()
module, tests = sys.argv[1], sys.argv[2:]
text = re.sub(r"(?m)^only_mutate = .*$", f"only_mutate = [{module!r}]".replace("'", '"'), text)
text = re.sub(r"(?m)^pytest_add_cli_args_test_selection = .*$",
              "pytest_add_cli_args_test_selection = [" + ", ".join(f'"{t}"' for t in tests) + "]", text)
if module.endswith(("loading.py", "format.py")):
    # mutmut's per-mutant limit is CPU seconds ((test time + constant) x 15 x 2); Keras start-up in
    # the loader tests' fixtures needs headroom, or undetected mutants would count as "timeout"
    # (killed). Not for the other modules: a mutant that loops would then take minutes to stop.
    text = text.replace("use_git_change_detection = false", "use_git_change_detection = false\ntimeout_constant = 10.0")
path.write_text(text)
PY
    # mutants/ must exist before Python starts: a PYTHONPATH entry missing at start-up is cached as
    # "nothing here", and the package would then be imported from an editable install elsewhere.
    mkdir -p mutants
    export PYTHONPATH=$work/mutants
    export HF_HUB_DISABLE_TELEMETRY=1
    # One thread per op: mutmut's time limit counts CPU seconds of all threads.
    export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
    # mutmut forks a worker per mutant from a process that has imported the tests' modules;
    # TensorFlow's thread pools do not survive a fork (the worker deadlocks), so the loader's
    # tests run on Keras' numpy backend here (the rules they pin do not depend on the backend);
    # format's tests are the loader's (verify_folder moved there).
    case $module in loading|format) export KERAS_BACKEND=numpy ;; esac
    read -r -a sample <<<"${MUTATION_SAMPLE:-${SCOPE[$module]:-}}"
    "$mutmut" run --max-children "${MUTATION_JOBS:-1}" "${sample[@]}" >"$out/$module.log" 2>&1 || {
      echo "$module: mutmut failed, see $out/$module.log" >&2; tail -20 "$out/$module.log" >&2; exit 1; }
    "$mutmut" results --all true >"$out/$module.results" 2>&1
    "$py" - "$module" "$out" <<'PY'
import re, subprocess, sys
from collections import Counter
from pathlib import Path
module, out = sys.argv[1], Path(sys.argv[2])
rows = [m.groups() for m in re.finditer(r"^\s+(\S+): (.+)$", (out / f"{module}.results").read_text(), re.M)]
counts = Counter(status for _, status in rows)
tested = sum(counts.values()) - counts["not checked"] - counts["skipped"]
killed = counts["killed"] + counts["timeout"]
score = 100.0 * killed / tested if tested else 0.0
by_function = Counter()
killed_by_function = Counter()
for name, status in rows:
    fn = re.sub(r"__mutmut_\d+$", "", name.rsplit(".", 1)[-1])
    by_function[fn] += status not in ("not checked", "skipped")
    killed_by_function[fn] += status in ("killed", "timeout")
survivors = [name for name, status in rows if status not in ("killed", "timeout", "not checked", "skipped")]
with open(out / f"{module}.txt", "w") as f:
    f.write(f"{module}: {killed}/{tested} killed ({score:.1f}%) {dict(counts)}\n\n")
    f.write("per function: " + ", ".join(f"{fn} {killed_by_function[fn]}/{n}" for fn, n in sorted(by_function.items())) + "\n\n")
    for name in survivors:
        diff = subprocess.run([str(Path(sys.executable).with_name("mutmut")), "show", name], capture_output=True, text=True).stdout
        f.write(diff + "\n")
print(f"{module}: {killed}/{tested} killed ({score:.1f}%) {dict(counts)}")
PY
  )
  rm -rf "$work"
  trap - EXIT
done
