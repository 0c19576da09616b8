# Shared by the integration scripts that run `fleetup serve` (sourced, never run by ctest:
# it sits in lib/). Needs $FU, $work and assert.sh.

# serve_start STATE_DIR PORT SSL_PORT: serve bound to 127.0.0.1, its log in
# $work/serve.log; waits (10 s at most) for STATE_DIR/serve.json, which it writes once it
# listens. Sets $pid and $TOK (the admin token).
serve_start() {
    "$FU" serve --state-dir "$1" --bind 127.0.0.1 --port "$2" --ssl-port "$3" >"$work/serve.log" 2>&1 &
    pid=$!
    wait_file "$1/serve.json" $pid "$work/serve.log" serve
    TOK=$(cat "$1/admin.token")
}

# serve_submit SSL_PORT FLEET: POST /api/v1/rollouts; the new rollout's id in $ID.
serve_submit() {
    _code=$(curl -sk -o "$work/submit" -w '%{http_code}' -H "Authorization: Bearer $TOK" \
        --data "{\"fleet\": \"$2\"}" "https://127.0.0.1:$1/api/v1/rollouts")
    if [ "$_code" = 201 ]; then ok; else bad "submit $2: HTTP $_code"; cat "$work/submit" >&2; fi
    ID=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('id', 0))" "$work/submit")
}
