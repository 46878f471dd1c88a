-- wrk script of benches/memory-under-load.sh: a staff exchange of CONNECTION per request, as the admin.
local f = io.open(os.getenv("TOKEN_FILE"))
local token = f:read("*l")
f:close()
wrk.method = "POST"
wrk.path = "/v1/programmes/connection/activities"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.body = '{"kind":"staff_exchange","occurred_on":"2021-10-11","host":"torino","visitor":"asti","cluster":"cop1","days":5,"staff":2}'
