#!/usr/bin/env bash
# Start a throw-away Chroma server and Postgres on loopback for `agentrag bench serve`, write the
# settings file that points at them, and print how to stop them. Usage:
#   scripts/bench_serve_stack.sh /tmp/stack      # then: agentrag --config /tmp/stack/settings.yaml bench serve ...
set -euo pipefail
root=${1:?folder for the stack}
mkdir -p "$root"
chroma_port=${CHROMA_PORT:-18001}
pg_port=${PG_PORT:-15432}
bins=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
chroma=$(dirname "$(command -v python || echo .venv/bin/python)")/chroma
[ -x "$chroma" ] || chroma=.venv/bin/chroma
ANONYMIZED_TELEMETRY=False nohup "$chroma" run --path "$root/chroma" --host 127.0.0.1 --port "$chroma_port" \
    >"$root/chroma.log" 2>&1 &
echo $! >"$root/chroma.pid"
pg="$root/pg"
as=()
if [ "$(id -u)" = "0" ]; then mkdir -p "$pg"; chown postgres "$pg"; chmod 755 "$root"; as=(runuser -u postgres --); fi
"${as[@]}" "$bins/initdb" -D "$pg/data" -A trust -U postgres --no-sync >/dev/null
"${as[@]}" "$bins/pg_ctl" -D "$pg/data" -l "$pg/log" -w \
    -o "-p $pg_port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
cat >"$root/settings.yaml" <<YAML
chroma: {kind: http, host: 127.0.0.1, port: $chroma_port}
state: {kind: postgres, dsn: "postgresql://postgres@127.0.0.1:$pg_port/postgres"}
YAML
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$chroma_port/api/v2/heartbeat" >/dev/null && break; sleep 0.2; done
echo "settings: $root/settings.yaml"
echo "stop: kill \$(cat $root/chroma.pid); ${as[*]} $bins/pg_ctl -D $pg/data stop"
