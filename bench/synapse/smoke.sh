#!/usr/bin/env bash
# Smoke-test a running bench Synapse with curl: register two users, create a DM,
# join, send a message, /sync, /messages.     bench/synapse/smoke.sh PORT
set -euo pipefail
PORT="${1:?usage: $0 PORT}"
BASE="http://127.0.0.1:$PORT/_matrix/client/v3"
SUFFIX="$(date +%s%N)"

json() { python3 -c 'import sys, json; v = json.load(sys.stdin); [v := v[k] for k in sys.argv[1:]]; print(v)' "$@"; }

# Register: step 1 (no auth) -> 401 + session; step 2 with m.login.dummy.
register() {
    local user="$1" body session
    body="{\"username\":\"$user\",\"password\":\"pw-$user\"}"
    session="$(curl -s -X POST "$BASE/register" -H 'Content-Type: application/json' -d "$body" | json session)"
    curl -sf -X POST "$BASE/register" -H 'Content-Type: application/json' \
        -d "{\"username\":\"$user\",\"password\":\"pw-$user\",\"auth\":{\"type\":\"m.login.dummy\",\"session\":\"$session\"}}" \
        | json access_token
}

ALICE="alice$SUFFIX"; BOB="bob$SUFFIX"
A_TOK="$(register "$ALICE")"; echo "registered @$ALICE:bench.local"
B_TOK="$(register "$BOB")";   echo "registered @$BOB:bench.local"

ROOM="$(curl -sf -X POST "$BASE/createRoom" -H "Authorization: Bearer $A_TOK" -H 'Content-Type: application/json' \
    -d "{\"is_direct\":true,\"invite\":[\"@$BOB:bench.local\"],\"preset\":\"trusted_private_chat\"}" | json room_id)"
echo "created $ROOM"
ROOM_ENC="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$ROOM")"

curl -sf -X POST "$BASE/join/$ROOM_ENC" -H "Authorization: Bearer $B_TOK" -H 'Content-Type: application/json' -d '{}' >/dev/null
echo "bob joined"

EV="$(curl -sf -X PUT "$BASE/rooms/$ROOM_ENC/send/m.room.message/txn$SUFFIX" -H "Authorization: Bearer $A_TOK" \
    -H 'Content-Type: application/json' -d '{"msgtype":"m.text","body":"hello bob"}' | json event_id)"
echo "sent $EV"

curl -sf "$BASE/sync?timeout=0" -H "Authorization: Bearer $B_TOK" | python3 -c '
import sys, json
s = json.load(sys.stdin); room = sys.argv[1]
ev = s["rooms"]["join"][room]["timeline"]["events"]
assert any(e.get("content", {}).get("body") == "hello bob" for e in ev), ev
print("sync ok: next_batch", s["next_batch"], "timeline events", len(ev))' "$ROOM"

curl -sf "$BASE/rooms/$ROOM_ENC/messages?dir=b&limit=50" -H "Authorization: Bearer $B_TOK" | python3 -c '
import sys, json
m = json.load(sys.stdin)
assert m["chunk"][0]["content"]["body"] == "hello bob", m["chunk"][0]
print("messages ok:", len(m["chunk"]), "events, newest:", m["chunk"][0]["type"])'
echo "smoke OK"
