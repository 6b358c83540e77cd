"""One simulated person's HTTP client, and the recorder of every request any of them makes.

No TLS proxy runs in front of gunicorn here: each client stands in for one, as TRUSTED_PROXY_COUNT=1
tells the app (tests/shipped/test_make_serve.py does the same), sending `X-Forwarded-Proto: https`
and an `X-Forwarded-For` of its own, so per-address limits and audit addresses see distinct people.
Cookies are kept per host by hand: requests keeps `Secure` cookies off plain HTTP, and its jar would
mix the tenants' same-named cookies, since every request goes to 127.0.0.1.
"""

from __future__ import annotations

import html
import re
import threading
import time
from dataclasses import dataclass, field
from http import cookiejar
from http.cookies import SimpleCookie

import requests

REQUEST_TIMEOUT_SECONDS = 35  # above gunicorn's 30 s worker timeout: a stuck worker shows as such
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', re.S)


@dataclass(frozen=True)
class Sample:
    kind: str
    at: float  # seconds since the run started
    seconds: float
    status: int  # 0: no HTTP answer (connection refused or reset, timeout)
    request_id: str | None
    error: str | None = None


@dataclass
class Recorder:
    """Every request of every person, in one list (appends are atomic under the GIL)."""

    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    # Before the clock starts, while everyone signs in (ramp-up), kinds get this prefix.
    prefix: str = "ramp-up "

    def now(self) -> float:
        return time.monotonic() - self.started


class _NoCookies(cookiejar.DefaultCookiePolicy):
    """requests' own jar keeps nothing: Client.jar does it per host."""

    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


class Client:
    """A browser of one person behind the TLS proxy: cookies per host, every request recorded."""

    def __init__(self, port: int, recorder: Recorder, address: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.recorder = recorder
        self.address = address
        self.session = requests.Session()
        self.session.cookies.set_policy(_NoCookies())
        self.jar: dict[str, dict[str, str]] = {}

    def request(
        self, kind: str, method: str, host: str, path: str, data: dict | None = None
    ) -> requests.Response | None:
        """One request; the response, or None when no HTTP answer came (recorded as status 0)."""
        cookies = self.jar.get(host, {})
        headers = {
            "Host": host,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": self.address,
            "Referer": f"https://{host}/",  # Flask-WTF checks it on HTTPS
            "User-Agent": "impersonator-loadtest/1",
        }
        if cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        at, kind = self.recorder.now(), self.recorder.prefix + kind
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                self.base + path,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.RequestException as failure:
            self.recorder.samples.append(
                Sample(kind, at, time.perf_counter() - started, 0, None, type(failure).__name__)
            )
            return None
        self.recorder.samples.append(
            Sample(
                kind,
                at,
                time.perf_counter() - started,
                response.status_code,
                response.headers.get("X-Request-Id"),
            )
        )
        self._keep_cookies(host, response)
        return response

    def get(self, kind: str, host: str, path: str) -> requests.Response | None:
        return self.request(kind, "GET", host, path)

    def post(self, kind: str, host: str, path: str, data: dict | None = None) -> requests.Response | None:
        return self.request(kind, "POST", host, path, data=data)

    def forget(self, host: str) -> None:
        self.jar.pop(host, None)

    def _keep_cookies(self, host: str, response: requests.Response) -> None:
        for header in response.raw.headers.getlist("Set-Cookie"):
            parsed = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                gone = morsel["max-age"] == "0" or "1970" in morsel["expires"]
                if gone:
                    self.jar.get(host, {}).pop(name, None)
                else:
                    self.jar.setdefault(host, {})[name] = morsel.value


def csrf(page: requests.Response | None) -> str | None:
    """The CSRF token of the first form on the page."""
    if page is None:
        return None
    match = _CSRF.search(page.text)
    return match.group(1) if match else None


def flashes(page: requests.Response) -> str:
    """The page's flash messages, as one line (for the report of an unexpected answer)."""
    return " | ".join(html.unescape(text.strip()) for _, text in _FLASH.findall(page.text))


class Counter:
    """A thread-safe tally by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def get(self, name: str) -> int:
        with self._lock:
            return self.counts.get(name, 0)
