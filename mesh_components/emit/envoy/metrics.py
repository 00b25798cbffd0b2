"""Metrics merging: the Prometheus listener serves the sidecar's stats followed by the app's own
metrics, which a Lua filter fetches from the app on loopback (Istio's merging, in Envoy alone).

The script is the same for every workload; each route's `filter_context` says where the app's
metrics are. docs/sidecar.md ("Metrics") explains the rules and the measured limits.
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.envoy.types import LUA, LUA_PER_ROUTE, Json, typed
from mesh_components.model import AppMetrics

CLUSTER_KEYS = ("admin_cluster", "app_cluster")
"""The keys of a route's filter context that name the clusters the script calls."""
FETCH_TIMEOUT_MS = 4000
"""Each of the two fetches (the sidecar's stats, then the app's metrics): together they stay
under Prometheus' default 10 s scrape timeout, so a hung app still leaves a scrape that works."""

SCRIPT = """\
-- The sidecar's stats, then the app's metrics (mesh_components/emit/envoy/metrics.py).
-- The route's filter_context says where the app's metrics are. Read it before any call: the
-- context object is valid only until the script first yields.
local ACCEPT = "text/plain;version=0.0.4;q=1.0,*/*;q=0.1"
local CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

local function fetch(handle, cluster, path, timeout_ms)
  local headers, body = handle:httpCall(cluster, {
    [":method"] = "GET",
    [":path"] = path,
    [":authority"] = "localhost",
    ["accept"] = ACCEPT,
  }, nil, {timeout_ms = timeout_ms, send_xff = false})
  return headers[":status"] or "none", headers["content-type"] or "", body or ""
end

local function ended(text)
  if text == "" or text:sub(-1) == "\\n" then
    return text
  end
  return text .. "\\n"
end

local function reason(status, body)
  local first = (body:match("^[^\\n]*"):gsub("%c", " ")):sub(1, 200)
  if first == "" then
    return "HTTP status " .. status
  end
  return "HTTP status " .. status .. ": " .. first
end

local function app_part(status, content_type, body, where)
  local prefix = "# mesh-components: the app's metrics (" .. where .. ") were unavailable: "
  if status ~= "200" then
    return prefix .. reason(status, body) .. "\\n"
  end
  if content_type ~= "" and not content_type:lower():find("^%s*text/plain") then
    local given = content_type:gsub("%c", " ")
    return prefix .. "they came as " .. given .. ", not as Prometheus text (text/plain)\\n"
  end
  return ended(body)
end

function envoy_on_request(handle)
  local context = handle:filterContext()
  local admin, timeout = context:get("admin_cluster"), context:get("timeout_ms")
  local cluster, path = context:get("app_cluster"), context:get("app_path")
  local where = context:get("app_url")
  local status, _, own = fetch(handle, admin, handle:headers():get(":path"), timeout)
  if status ~= "200" then
    -- The sidecar's stats could not be read whole (an httpCall keeps at most 32 MiB): the
    -- route serves them alone, streamed from the admin interface, as without merging.
    handle:logWarn("the app's metrics are not merged this time: " .. reason(status, own))
    return
  end
  local app_status, content_type, metrics = fetch(handle, cluster, path, timeout)
  local app = app_part(app_status, content_type, metrics, where)
  handle:respond({[":status"] = "200", ["content-type"] = CONTENT_TYPE}, ended(own) .. app)
end
"""


def merge_filter() -> Json:
    """The Lua filter, first on the Prometheus listener. It acts only where a route's
    `merge_route_config` enables it; every other route disables it."""
    return LUA.config(default_source_code={"inline_string": SCRIPT})


def merge_route_config(app: AppMetrics) -> Json:
    """`typed_per_filter_config` of the scrape route: where the app's metrics are."""
    context = {
        "admin_cluster": names.ADMIN_CLUSTER,
        "app_cluster": names.app_metrics_cluster(app.port),
        "app_path": app.path,
        "app_url": f"http://127.0.0.1:{app.port}{app.path}",
        "timeout_ms": FETCH_TIMEOUT_MS,
    }
    return {LUA.name: typed(LUA_PER_ROUTE, filter_context=context)}


def merge_disabled() -> Json:
    """`typed_per_filter_config` of every other route of the Prometheus listener."""
    return {LUA.name: typed(LUA_PER_ROUTE, disabled=True)}
