#!/usr/bin/env bash
# Every Customergroup method once, with curl. Each call is printed in the documented notation,
# followed by the service's answer.
#
#   CUSTOMERGROUP_RPC_TOKEN=<token> examples/curl.sh
#
# CUSTOMERGROUP_RPC_URL defaults to http://127.0.0.1:8080/backend/jsonrpc/v1/.
# Errors are ordinary JSON-RPC responses with HTTP 200, so curl runs without --fail.
set -euo pipefail

url="${CUSTOMERGROUP_RPC_URL:-http://127.0.0.1:8080/backend/jsonrpc/v1/}"
token="${CUSTOMERGROUP_RPC_TOKEN:-}"
if [[ -z "$token" ]]; then
    echo "curl.sh: set CUSTOMERGROUP_RPC_TOKEN to an API token with scope manage" >&2
    echo "  (create one with: customergroup-rpc token create --scope manage --db PATH)" >&2
    exit 1
fi

# post BODY: send one JSON-RPC request (or batch) and print the response.
# The token may also go in the URL instead: "$url?auth=$token".
post() {
    curl -sS "$url" -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
        --data "$1"
    echo
}

# call METHOD [PARAM ...]: print Customergroup.METHOD(PARAM, ...), then call it.
# The response is kept in $response.
call() {
    local method="Customergroup.$1" params
    shift
    params=$(printf '%s, ' "$@")
    params="${params%, }"
    echo "$method($params)"
    response=$(post "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"$method\", \"params\": [$params]}")
    echo "$response"
    echo
}

# uid_of_response: the uid in the result of the last call.
uid_of_response() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["uid"])' <<<"$response"
}

suffix="$(date +%s)-$$" # names are unique, so re-runs against one database use new ones

call create "{\"name\": \"Staff $suffix\"}" '["uid", "name"]'
staff=$(uid_of_response)
call create "{\"name\": \"Students $suffix\"}"
students=$(uid_of_response)

call get "$staff"
call getSchema null
call list '["changed", "created", "name", "uid"]' '{"limit": 2}'
call count '{"/name": {"startsWith": "Staff"}}'
call set "$staff" "{\"name\": \"Teachers $suffix\"}" '["uid", "name", "changed"]'
call validate null "{\"name\": \"STUDENTS $suffix\"}" # taken: names compare case-insensitively

# Customers in groups: customers are known by their uid in the shop's customer system.
call addCustomers "$staff" '[17, 42, 99]'
call removeCustomers "$staff" '[99]'
call moveCustomers "$staff" "$students" '[42]'
call listCustomers "$staff" '{"limit": 10}'
call delete "$students" # its customers stay customers, in their other groups

# Versions: change a group only if nobody changed it since you read its version (5 here:
# created, renamed, and three changes of its customers). A stale one is 9004 Conflict, with
# the group as it is now.
call set "$staff" "{\"name\": \"Staff $suffix\"}" '["name", "version"]' 5
call set "$staff" "{\"name\": \"Again $suffix\"}" '["name", "version"]' 5

# The change feed: what changed after a position, who changed it; pass "last" next time.
call changes 0 3
call changes null 10 "$staff" # only this group's events

echo "Batch: Customergroup.get($staff, \"name\") and Customergroup.count()"
post "[{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"Customergroup.get\", \"params\": [$staff, \"name\"]},
       {\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": \"Customergroup.count\"}]"
echo

echo "# An error: the group deleted above is gone (9003 Object not found)."
call get "$students"
