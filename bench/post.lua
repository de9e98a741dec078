-- POST one fixed JSON body on every request, for bench/figures.py.
--
--   wrk -t1 -c32 -d5s --latency -s bench/post.lua URL -- BODY
--
-- Every answer that is not HTTP 200 with a JSON-RPC result (a body holding "error") is
-- counted; done() prints "JSON-RPC errors: N" after wrk's own report, so a bench that
-- measured error answers (a wrong token, say) is caught.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   wrk.method = "POST"
   wrk.body = args[1]
   wrk.headers["Content-Type"] = "application/json"
   errors = 0
end

function response(status, headers, body)
   if status ~= 200 or body:find('"error"', 1, true) then
      errors = errors + 1
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + thread:get("errors")
   end
   io.write(string.format("JSON-RPC errors: %d\n", total))
end
