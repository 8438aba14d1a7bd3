#!/usr/bin/env bash
# Run a fresh, throttle-free Synapse on loopback for benchmarks, in the foreground.
#
#   bench/synapse/run.sh BACKEND PORT        BACKEND = sqlite | postgres
#
# Every run wipes $SYNAPSE_HOME/data-BACKEND (and, for postgres, drops and recreates
# the database), writes a new config there and then execs Synapse, so the caller can
# background it (`run.sh sqlite 8008 & pid=$!`) and stop it with `kill $pid`.
#
# Environment:
#   SYNAPSE_HOME           base dir (default $HOME/.cache/hilo-synapse; run setup.sh first)
#   SYNAPSE_PG_HOST/PORT/USER/DB
#                          postgres target (default 127.0.0.1 / 5432 / postgres / synapse_bench,
#                          trust auth, no password)
#   SYNAPSE_BCRYPT_ROUNDS  password hashing cost (default 12 = Synapse's default; registration
#                          and password login spend most of their time here)
set -euo pipefail

usage() { echo "usage: $0 sqlite|postgres PORT" >&2; exit 2; }
[ $# -eq 2 ] || usage
BACKEND="$1"
PORT="$2"
case "$BACKEND" in sqlite|postgres) ;; *) usage ;; esac
[[ "$PORT" =~ ^[0-9]+$ ]] || usage

SYNAPSE_HOME="${SYNAPSE_HOME:-$HOME/.cache/hilo-synapse}"
VENV="$SYNAPSE_HOME/venv"
PY="$VENV/bin/python"
DATA="$SYNAPSE_HOME/data-$BACKEND"
CONFIG="$DATA/homeserver.yaml"
SERVER_NAME="bench.local"
PG_HOST="${SYNAPSE_PG_HOST:-127.0.0.1}"
PG_PORT="${SYNAPSE_PG_PORT:-5432}"
PG_USER="${SYNAPSE_PG_USER:-postgres}"
PG_DB="${SYNAPSE_PG_DB:-synapse_bench}"
BCRYPT_ROUNDS="${SYNAPSE_BCRYPT_ROUNDS:-12}"

[ -x "$PY" ] || { echo "no venv at $VENV: run $(dirname "$0")/setup.sh first" >&2; exit 1; }

# Fresh data dir.
rm -rf -- "$DATA"
mkdir -p "$DATA"

# Base config: signing key, macaroon/form secrets, paths.
"$PY" -m synapse.app.homeserver --server-name "$SERVER_NAME" --config-path "$CONFIG" \
    --data-directory "$DATA" --generate-config --report-stats=no >/dev/null

# Fresh postgres database (Synapse requires UTF8 with C collation).
if [ "$BACKEND" = postgres ]; then
    PG_HOST="$PG_HOST" PG_PORT="$PG_PORT" PG_USER="$PG_USER" PG_DB="$PG_DB" "$PY" - <<'PY'
import os, psycopg2
from psycopg2 import sql
conn = psycopg2.connect(host=os.environ["PG_HOST"], port=os.environ["PG_PORT"],
                        user=os.environ["PG_USER"], dbname="postgres")
conn.autocommit = True
db = sql.Identifier(os.environ["PG_DB"])
with conn.cursor() as cur:
    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))
    cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' "
                        "TEMPLATE template0 OWNER {}").format(db, sql.Identifier(os.environ["PG_USER"])))
conn.close()
PY
fi

# Overrides on top of the generated config.
BACKEND="$BACKEND" PORT="$PORT" DATA="$DATA" CONFIG="$CONFIG" BCRYPT_ROUNDS="$BCRYPT_ROUNDS" \
PG_HOST="$PG_HOST" PG_PORT="$PG_PORT" PG_USER="$PG_USER" PG_DB="$PG_DB" "$PY" - <<'PY'
import os, yaml
e = os.environ
data, config = e["DATA"], e["CONFIG"]
with open(config) as f:
    cfg = yaml.safe_load(f)

cfg["listeners"] = [{
    "port": int(e["PORT"]), "bind_addresses": ["127.0.0.1"], "type": "http",
    "tls": False, "x_forwarded": False,
    "resources": [{"names": ["client"], "compress": False}],
}]

if e["BACKEND"] == "postgres":
    cfg["database"] = {"name": "psycopg2", "args": {
        "user": e["PG_USER"], "host": e["PG_HOST"], "port": int(e["PG_PORT"]),
        "database": e["PG_DB"], "cp_min": 5, "cp_max": 10}}
else:
    cfg["database"] = {"name": "sqlite3", "args": {"database": f"{data}/homeserver.db"}}

# Logging: WARNING and above to a file in the data dir.
log_config = f"{data}/log.config.yaml"
with open(log_config, "w") as f:
    yaml.safe_dump({
        "version": 1,
        "formatters": {"precise": {"format":
            "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "formatter": "precise",
                              "filename": f"{data}/homeserver.log", "encoding": "utf8"}},
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }, f)
cfg["log_config"] = log_config

cfg.update({
    "report_stats": False,
    "enable_metrics": False,
    "enable_registration": True,
    "enable_registration_without_verification": True,
    # No outbound network: no key servers, no federation, no URL previews.
    "trusted_key_servers": [],
    "suppress_key_server_warning": True,
    "federation_domain_whitelist": [],
    "url_preview_enabled": False,
    "password_config": {"enabled": True, "bcrypt_rounds": int(e["BCRYPT_ROUNDS"])},
})

# Raise every client-facing rate limit of this Synapse version (see
# synapse/config/ratelimiting.py) so that the server is measured, not its throttle.
big = {"per_second": 100000, "burst_count": 100000}
for key in ["rc_message", "rc_registration", "rc_registration_token_validity",
            "rc_joins_per_room", "rc_key_requests", "rc_3pid_validation",
            "rc_third_party_invite", "rc_media_create", "rc_admin_redaction",
            "rc_delayed_event_mgmt", "rc_room_creation", "rc_reports",
            "rc_user_directory", "rc_profile"]:
    cfg[key] = dict(big)
cfg["rc_login"] = {k: dict(big) for k in ("address", "account", "failed_attempts")}
cfg["rc_joins"] = {k: dict(big) for k in ("local", "remote")}
cfg["rc_invites"] = {k: dict(big) for k in ("per_room", "per_user", "per_issuer")}
cfg["rc_presence"] = {"per_user": dict(big)}

with open(config, "w") as f:
    yaml.safe_dump(cfg, f, sort_keys=False)
PY

rm -f "$DATA/$SERVER_NAME.log.config"   # generated default, unused
cat >&2 <<INFO
synapse: server_name=$SERVER_NAME backend=$BACKEND url=http://127.0.0.1:$PORT
synapse: config=$CONFIG log=$DATA/homeserver.log
synapse: ready when GET http://127.0.0.1:$PORT/_matrix/client/versions answers
INFO

cd "$DATA"
exec "$PY" -m synapse.app.homeserver -c "$CONFIG"
