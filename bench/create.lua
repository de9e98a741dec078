-- Customergroup.create with a new name on every request, for bench/figures.py.
--
--   wrk -t1 -c1 -d5s --latency -s bench/create.lua URL -- PREFIX [LIMIT]
--
-- Names are "PREFIX T-N": T is the wrk thread's number, N counts that thread's requests, so
-- every request creates a group (no "name is taken" answers). PREFIX keeps runs on one
-- database apart. With LIMIT > 0 a thread stops after LIMIT answers (or at -d, if sooner),
-- so a run grows the database by a known number of groups. wrk itself still waits out -d and
-- divides by it, so done() prints "Creates: N answers in S s", timed with the monotonic clock
-- from the first request sent to the last answer received, for the rate over the creates
-- actually made. Answers that are not HTTP 200 with a JSON-RPC result are counted and printed
-- by done(), as in post.lua.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

local function now()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
   return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function init(args)
   prefix = args[1] or "Bench"
   limit = tonumber(args[2] or "0") or 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   counter, answers, errors, first, last = 0, 0, 0, 0, 0
end

function request()
   if counter == 0 then
      first = now()
   end
   counter = counter + 1
   local body = string.format(
      '{"jsonrpc":"2.0","method":"Customergroup.create",'
         .. '"params":[{"name":"%s %d-%d"},["uid"]],"id":%d}',
      prefix, id, counter, counter)
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   last = now()
   answers = answers + 1
   if status ~= 200 or body:find('"error"', 1, true) then
      errors = errors + 1
   end
   if limit > 0 and answers >= limit then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local total, made, first_sent, last_answer = 0, 0, math.huge, 0
   for _, thread in ipairs(threads) do
      total = total + thread:get("errors")
      made = made + thread:get("answers")
      if thread:get("first") > 0 then
         first_sent = math.min(first_sent, thread:get("first"))
      end
      last_answer = math.max(last_answer, thread:get("last"))
   end
   local span = last_answer > 0 and last_answer - first_sent or 0
   io.write(string.format("JSON-RPC errors: %d\n", total))
   io.write(string.format("Creates: %d answers in %.6f s\n", made, span))
end
