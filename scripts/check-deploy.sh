#!/usr/bin/env bash
# Checks the operator's deployment files: the Prometheus rules parse and pass their unit
# tests (promtool, from Debian's prometheus package), every alert has its runbook
# paragraph, the Grafana dashboard only queries metrics Locksmith exports or the rules
# record, and the compose file sets only real settings and trusts exactly its nginx.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rules=deploy/prometheus/locksmith.rules.yml
promtool check rules "$rules"
(cd deploy/prometheus && promtool test rules tests.yml)
missing=0
for alert in $(sed -n 's/^ *- alert: *//p' "$rules"); do
    if ! grep -q "^## $alert\$" docs/runbooks.md; then
        echo "[deploy] $alert has no runbook paragraph in docs/runbooks.md" >&2
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
    sys.exit("[deploy] not exported by Locksmith: " + ", ".join(sorted(set(bad))))
print(f"[deploy] dashboard: {len(dash['panels'])} panels over exported metrics")

compose = open("deploy/compose.yaml").read()
settings = set(re.findall(r"^#? ?((?:LOCKSMITH_|DATABASE_URL)[A-Z0-9_]*)=", open(".env.example").read(), re.M))
used = set(re.findall(r"^\s+((?:LOCKSMITH_|DATABASE_URL)[A-Z0-9_]*):", compose, re.M))
unknown = used - settings
if unknown:
    sys.exit(f"[deploy] compose.yaml sets what is not a setting: {sorted(unknown)}")
trusted = re.search(r"LOCKSMITH_TRUSTED_PROXIES: (\S+)", compose).group(1)
nginx = re.search(r"ipv4_address: ([0-9.]+)", compose).group(1)
if trusted != nginx:
    sys.exit(f"[deploy] compose.yaml trusts {trusted}, but nginx is {nginx}")
print(f"[deploy] compose: {len(used)} settings, trusting nginx at {nginx}")
PY
exit "$missing"
