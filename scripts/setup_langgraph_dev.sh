#!/usr/bin/env bash
# Set up `langgraph dev` (langgraph-cli[inmem]) for tests/pages/test_langgraph_dev.py.
#
#   scripts/setup_langgraph_dev.sh CACHE_DIR PROJECT_PYTHON
#
# langgraph-cli[inmem] pins protobuf below 7, which the project environment does not, so it
# lives in its own venv, CACHE_DIR/langgraph-dev, layered over the project's packages with a
# .pth file (its own packages come first): the server imports agentrag and the graphs from
# the project, and nothing in the project environment changes. Created once (about 3 minutes
# on 2 cores, 89 MB); the .pth is rewritten on every call, so a moved project venv is followed.
set -euo pipefail

cache="${1:?usage: setup_langgraph_dev.sh CACHE_DIR PROJECT_PYTHON}"
project_python="${2:?usage: setup_langgraph_dev.sh CACHE_DIR PROJECT_PYTHON}"
venv="$cache/langgraph-dev"
stamp="$venv/.agentrag-ready"

if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    "$project_python" -m venv --without-pip "$venv" 2>/dev/null || "$project_python" -m venv "$venv"
    "$project_python" -m pip --python "$venv/bin/python" install -q "langgraph-cli[inmem]>=0.4" 2>/dev/null \
        || { "$project_python" -m venv "$venv" && "$venv/bin/pip" install -q "langgraph-cli[inmem]>=0.4"; }
    touch "$stamp"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$project_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/zz_agentrag_project.pth"
echo "langgraph dev: $venv/bin/langgraph"
