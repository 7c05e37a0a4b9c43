#!/usr/bin/env bash
# Checks the operator's monitoring files: the Prometheus rules parse and pass their unit
# tests (promtool, from Debian's prometheus package), every alert has its runbook
# paragraph, and the Grafana dashboard only queries metrics Locksmith exports or the rules
# record.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rules=deploy/prometheus/locksmith.rules.yml
promtool check rules "$rules"
(cd deploy/prometheus && promtool test rules tests.yml)
missing=0
for alert in $(sed -n 's/^ *- alert: *//p' "$rules"); do
    if ! grep -q "^## $alert\$" docs/runbooks.md; then
        echo "[alerts] $alert has no runbook paragraph in docs/runbooks.md" >&2
        missing=1
    fi
done
python3 - "$rules" <<'PY'
import json, re, sys
rules = open(sys.argv[1]).read()
recorded = set(re.findall(r"record: (\S+)", rules))
dash = json.load(open("deploy/grafana/locksmith.json"))
sources = open("core/src/lib.rs").read()
import glob
for path in glob.glob("core/src/**/*.rs", recursive=True) + glob.glob("server/src/**/*.rs", recursive=True):
    sources += open(path).read()
exported = set(re.findall(r'(?:counter|gauge|histogram)!\(\s*"([a-z_]+)"', sources))
exported |= {m + "_bucket" for m in exported}
bad = []
for panel in dash["panels"]:
    for target in panel["targets"]:
        for name in re.findall(r"([a-z_:][a-z0-9_:]*)\{", target["expr"]):
            if name not in exported and name not in recorded:
                bad.append(f'{panel["title"]}: {name}')
for name in re.findall(r"\b([a-z_]+_(?:total|seconds|connections|connected|ok))\b", rules):
    if name not in exported and not name.startswith(("node_", "probe_")):
        bad.append(f"rules: {name}")
if bad:
    sys.exit("[alerts] not exported by Locksmith: " + ", ".join(sorted(set(bad))))
print(f"[alerts] dashboard: {len(dash['panels'])} panels over exported metrics")
PY
exit "$missing"
