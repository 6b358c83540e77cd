"""The load: wrk runs and what they counted, and the Lua script that redeems a fresh token per request."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.web.settings import CONNECTIONS, SOCKET_ERRORS, WRK_THREADS, WRK_TIMEOUT_SECONDS


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    bad_status: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: dict[str, int]  # connect, read, write, timeout
    latency_avg: str

    @property
    def failed_sockets(self) -> int:
        return sum(self.socket_errors.values())


def run_wrk(
    url: str, *, seconds: int, headers: dict[str, str], script: Path | None = None, args=()
) -> WrkResult:
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s"]
    command += ["--timeout", f"{WRK_TIMEOUT_SECONDS}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if args:
        command += ["--", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    out = done.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{out}\n{done.stderr}")
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    return WrkResult(
        requests_per_second=float(found.group(1)),
        requests=int(total.group(1)) if total else 0,
        bad_status=int(bad.group(1)) if bad else 0,
        socket_errors=dict(zip(SOCKET_ERRORS, map(int, sock.groups()), strict=True)) if sock else {},
        latency_avg=latency.group(1) if latency else "?",
    )


# The redemption load: each request POSTs the next unused token. wrk gives every thread a Lua state of
# its own, so thread k takes the lines k, k + n, k + 2n … of the token file: no token is sent twice.
REDEEM_LUA = """
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  local path, threads = args[1], tonumber(args[2])
  tokens, position = {}, 0
  local line_number = 0
  for line in io.lines(path) do
    if line_number % threads == thread_id then
      tokens[#tokens + 1] = line
    end
    line_number = line_number + 1
  end
  wrk.method = "POST"
  wrk.path = "/impersonation/redeem"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  position = position + 1
  -- Out of tokens: a deliberately bad one, so the run shows refusals instead of replays.
  local token = tokens[position] or "exhausted"
  return wrk.format(nil, nil, nil, "token=" .. token)
end
"""
