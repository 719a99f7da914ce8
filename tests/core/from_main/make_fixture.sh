#!/usr/bin/env bash
# Regenerate the plan, inventory and journal written by an older build (default: main at d24466b, before the
# typed contracts of issue 20), which tests/core/test_codec_compat.py loads with today's code.
#   tests/core/from_main/make_fixture.sh [COMMIT]
set -euo pipefail
commit=${1:-d24466b}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$here/../../.." archive "$commit" migrate | tar -x -C "$work"
PYTHONPATH="$work" python3 -m migrate demo --out "$work/demo" --now 2026-11-25T09:00:00Z >/dev/null 2>&1
gzip -9n -c "$work/demo/plan.json" > "$here/plan.json.gz"
gzip -9n -c "$work/demo/inventory.json" > "$here/inventory.json.gz"
python3 - "$work/demo/state/state.db" "$here/journal.json.gz" <<'PY'
import gzip, json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT seq, ts, run_id, actor, stage, action_id, kind, target, phase, outcome, detail, evidence "
    "FROM journal ORDER BY seq").fetchall()
names = ("seq", "ts", "run_id", "actor", "stage", "action_id", "kind", "target", "phase", "outcome",
         "detail", "evidence")
data = [dict(zip(names, r)) for r in rows]
for d in data:
    d["actor"] = "someone@somewhere"  # who ran it does not matter here
with gzip.GzipFile(sys.argv[2], "wb", mtime=0) as f:
    f.write((json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
PY
echo "wrote $here/plan.json.gz $here/inventory.json.gz $here/journal.json.gz from $commit"
