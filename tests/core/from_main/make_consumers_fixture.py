"""Regenerate consumers_plan.json.gz: the plan of tests/plan/test_consumers_e2e.py's organisation plus
a consumer whose copying jobs sit in two files, written by an older build (it was main at bbfb347,
before merge-request params were typed). tests/core/test_codec_compat.py loads it with today's code.

    work=$(mktemp -d); git archive bbfb347 | tar -x -C "$work"
    (cd "$work" && PYTHONPATH="$work" python3 tests/core/from_main/make_consumers_fixture.py "$work" \
        "$OLDPWD/tests/core/from_main/consumers_plan.json.gz")
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from pathlib import Path

import yaml


def main(root: str, out: str) -> None:
    sys.path[:0] = [root + "/tests", root + "/tests/plan"]
    import test_consumers_e2e as t  # the organisation of that build's end-to-end test

    from migrate.cli.verbs import main as cli
    from migrate.sandbox.http import Fault
    from migrate.sandbox.launch import Sandbox

    t.CASES["two-files"] = {".gitlab-ci.yml": t.inc("two-files.yml") + "  - local: ci/deploy.yml\n"
                            "first:\n  image: google/cloud-sdk:467.0.0-slim\n  script:\n"
                            "    - !reference [.gcp-auth, before_script]\n    - gcloud storage ls\n",
                            "ci/deploy.yml": "ship:\n  image: google/cloud-sdk:467.0.0-slim\n  script:\n"
                            "    - !reference [.gcp-auth, before_script]\n    - gcloud storage ls\n"}
    t.TEMPLATES["two-files.yml"] = t.TEMPLATE
    tmp = Path(tempfile.mkdtemp())
    with Sandbox(t.org()) as sb:
        os.environ.update(sb.env())
        config = tmp / "c.yaml"
        config.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state")), sort_keys=False))
        inv, plan = tmp / "inventory.json", tmp / "plan.json"
        cli(["scan", "-o", str(inv), "--progress", "never", "--config", str(config)])
        sb.gitlab.add_fault(Fault("GET", r"/projects/(acme%2Funread|10\d\d)/repository/files/ci%2Fextra\.yml",
                                  403, count=-1))
        assert cli(["plan", "--inventory", str(inv), "-o", str(plan), "--no-diff", "--config", str(config)]) == 0
        Path(out).write_bytes(gzip.compress(plan.read_bytes(), 9, mtime=0))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
