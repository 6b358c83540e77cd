"""The simulated people: staff doing the whole flow, customers minding their account, attackers.

Each person is a thread with its own Client. A step that gets an answer it did not expect raises
`Unexpected`; the person records it as an anomaly (with its time, so one inside a fault window is
excused), rests a second and carries on. Races between people that the product answers correctly
(a customer revoking a session or replacing a code while support uses it) are expected answers,
not anomalies; they are told apart by who owns the account being raced for.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyotp
import requests

from scripts.loadtest.browser import Client, Counter, Recorder, csrf, flashes
from scripts.loadtest.seed import CUSTOMER_PASSWORD, STAFF_PASSWORD, Customer, StaffMember

CONSOLE = "console.localhost"
STEP_SECONDS = 30
# A code of the previous step is sent only with at least this long left in the current one (fresh_step).
PREVIOUS_STEP_MARGIN_SECONDS = 10
JUSTIFICATION = "Load test: the customer asked us to look at their project list with them."
_LAUNCH_FORM = re.compile(r'<form method="post" action="([^"]+)" data-autosubmit>')
HANDOFF_TOKEN = re.compile(r'name="token" value="([^"]+)"')
_ACCESS_CODE = re.compile(r'id="access-code">([0-9A-Z]{4}-[0-9A-Z]{4})<')
_HISTORY_REVOKE = re.compile(r'action="(/settings/support-access/history/\d+/revoke)"')
_MY_END = re.compile(r'action="(/impersonations/\d+/end)"')
_APPROVAL_PAGE = re.compile(r"/approvals/(\d+)")
_APPROVAL_LINK = re.compile(r'href="/approvals/(\d+)"')


@dataclass(frozen=True)
class Anomaly:
    at: float
    who: str
    kind: str
    status: int
    detail: str
    request_id: str | None


class Unexpected(Exception):
    def __init__(self, kind: str, response: requests.Response | None, detail: str = "") -> None:
        self.kind = kind
        self.status = response.status_code if response is not None else 0
        self.request_id = response.headers.get("X-Request-Id") if response is not None else None
        if response is not None and not detail:
            detail = flashes(response) or response.text[:120].replace("\n", " ")
        super().__init__(detail or "no answer")


def expect(kind: str, response: requests.Response | None, *statuses: int) -> requests.Response:
    if response is None or response.status_code not in statuses:
        raise Unexpected(kind, response)
    return response


@dataclass
class World:
    """What the people share: the server, the clock of the run, the tallies and the evidence."""

    port: int
    recorder: Recorder
    stop: threading.Event
    owned: frozenset[int]  # customer accounts that a customer thread is minding (races expected)
    go: threading.Event = field(default_factory=threading.Event)  # the clock starts: everyone is in
    prepared: Counter = field(default_factory=Counter)
    race_share: float = 0.25
    tally: Counter = field(default_factory=Counter)
    anomalies: list[Anomaly] = field(default_factory=list)
    used_tokens: deque = field(default_factory=lambda: deque(maxlen=500))  # (host, path, token)
    redemptions: dict[str, int] = field(default_factory=dict)  # token -> successful redemptions
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, address: str) -> Client:
        return Client(self.port, self.recorder, address)

    def redeemed(self, token: str, successes: int) -> None:
        with self.lock:
            self.redemptions[token] = self.redemptions.get(token, 0) + successes


class Person(threading.Thread):
    def __init__(self, world: World, name: str, address: str, seed: int) -> None:
        super().__init__(name=name, daemon=True)
        self.world = world
        self.client = world.client(address)
        self.rng = random.Random(seed)  # noqa: S311  (repeatable choices, not secrets)

    def think(self, low: float = 0.3, high: float = 1.2) -> None:
        self.world.stop.wait(self.rng.uniform(low, high))

    def run(self) -> None:
        # Ramp-up: sign in (scrypt on the server: the costliest request) before the clock starts,
        # as a working day starts, so that sixty-odd simultaneous sign-ins do not eat the run.
        for _attempt in range(3):
            try:
                self.prepare()
                break
            except Unexpected as odd:
                self.world.anomalies.append(
                    Anomaly(
                        self.world.recorder.now(), self.name, odd.kind, odd.status, str(odd), odd.request_id
                    )
                )
                time.sleep(1.0)
        self.world.prepared.add("ready")
        self.world.go.wait()
        while not self.world.stop.is_set():
            try:
                self.act()
            except Unexpected as odd:
                self.world.anomalies.append(
                    Anomaly(
                        self.world.recorder.now(), self.name, odd.kind, odd.status, str(odd), odd.request_id
                    )
                )
                self.recover()
                self.world.stop.wait(1.0)
        try:
            self.wind_down()
        except Unexpected as odd:
            self.world.anomalies.append(
                Anomaly(self.world.recorder.now(), self.name, odd.kind, odd.status, str(odd), odd.request_id)
            )

    def prepare(self) -> None:
        """Before the clock starts: sign in."""

    def act(self) -> None:
        """One step of this kind of person (staff, customer, attacker): each subclass defines it."""
        raise NotImplementedError

    def recover(self) -> None:
        """After an unexpected answer: forget what may no longer hold (sign-ins are server-side
        records and outlive any fault here, so they are kept)."""

    def wind_down(self) -> None:
        """After the run: leave nothing open."""


def customer_sign_in(client: Client, customer: Customer) -> None:
    page = expect("customer.page", client.get("customer.page", customer.host, "/sign-in"), 200)
    answer = client.post(
        "customer.sign_in",
        customer.host,
        "/sign-in",
        {"csrf_token": csrf(page), "email": customer.email, "password": CUSTOMER_PASSWORD},
    )
    expect("customer.sign_in", answer, 303)


def generate_code(client: Client, customer: Customer) -> str:
    page = expect(
        "customer.page", client.get("customer.page", customer.host, "/settings/support-access"), 200
    )
    answer = client.post(
        "customer.code", customer.host, "/settings/support-access/code", {"csrf_token": csrf(page)}
    )
    expect("customer.code", answer, 303)  # Post/Redirect/Get: the code is shown once, on the next page
    shown = client.get("customer.page", customer.host, "/settings/support-access")
    match = _ACCESS_CODE.search(expect("customer.page", shown, 200).text)
    if match is None:
        raise Unexpected("customer.code", answer, "no code on the page")
    return match.group(1)


class StaffPerson(Person):
    """Signs in (password + TOTP), then round after round: search, open a user, and once per TOTP
    step ask to impersonate them (with the customer's access code where needed), redeem the token
    on the tenant's domain, browse as the ghost, End. Between steps it searches and reads."""

    def __init__(self, world: World, member: StaffMember, n: int, targets: list[Customer]) -> None:
        super().__init__(world, f"staff-{n:03d}", f"10.1.{n // 250}.{n % 250 + 1}", n)
        self.member = member
        self.totp = pyotp.TOTP(member.secret)
        self.targets = targets
        self.last_step = -1
        self.signed_in = False
        self.phones: dict[int, Client] = {}  # the customers' own browsers, to read out their codes
        self.waiting: list[tuple[int, bool]] = []  # own full-mode requests: (approval id, owned)

    def fresh_step(self, *, allow_previous: bool = False) -> int | None:
        """A TOTP step not used yet by this member (each is accepted once, DESIGN I6). The previous
        step (which leaves the current one for the next code) only while the server will still take
        it when the request arrives: a code read late in a step and answered after the boundary, on
        a server busy with everyone's sign-in, would be two steps old by then."""
        clock = time.time()
        now = int(clock) // STEP_SECONDS
        late = clock - now * STEP_SECONDS > STEP_SECONDS - PREVIOUS_STEP_MARGIN_SECONDS
        for step in (now - 1, now) if allow_previous and not late else (now,):
            if step > self.last_step:
                return step
        return None

    def code(self, step: int) -> str:
        self.last_step = step  # spent whatever the answer: a lost answer may still have used it
        return self.totp.generate_otp(step)

    def sign_in(self) -> None:
        c = self.client
        page = expect("console.page", c.get("console.page", CONSOLE, "/sign-in"), 200)
        data = {"csrf_token": csrf(page), "email": self.member.email, "password": STAFF_PASSWORD}
        answer = expect("console.sign_in", c.post("console.sign_in", CONSOLE, "/sign-in", data), 302)
        if not answer.headers.get("Location", "").endswith("/sign-in/code"):
            raise Unexpected("console.sign_in", answer, "not sent to the code step")
        page = expect("console.page", c.get("console.page", CONSOLE, "/sign-in/code"), 200)
        step = self.fresh_step(allow_previous=True)
        while step is None:
            self.world.stop.wait(1.0)
            step = self.fresh_step(allow_previous=True)
        data = {"csrf_token": csrf(page), "code": self.code(step)}
        expect("console.totp", c.post("console.totp", CONSOLE, "/sign-in/code", data), 302)
        self.signed_in = True

    def prepare(self) -> None:
        self.sign_in()
        for target in {t.id: t for t in self.targets if t.policy == "code_always" or not t.opted_in}.values():
            self.phone(target)  # the customers this member will ask for a code are signed in too

    def act(self) -> None:
        if not self.signed_in:
            self.sign_in()
        if self.member.role == "impersonator" and self.approvals():
            return
        target = self.rng.choice(self.targets)
        c = self.client
        found = c.get("console.search", CONSOLE, f"/search?q={target.email}")
        if found is not None and found.status_code == 302:
            self.signed_in = False  # signed out by the server: an anomaly, since nothing here signs out
        found = expect("console.search", found, 200)
        if f"/users/{target.id}" not in found.text:
            raise Unexpected("console.search", found, f"{target.email} not found")
        self.think(0.2, 0.6)
        page = expect("console.user", c.get("console.user", CONSOLE, f"/users/{target.id}"), 200)
        step = self.fresh_step()
        if step is None or f'action="/users/{target.id}/impersonate"' not in page.text:
            self.think(0.5, 1.5)  # reads the page; the next code comes with the next step
            return
        owned = target.id in self.world.owned
        access_code = ""
        if 'name="access_code"' in page.text:
            access_code = generate_code(self.phone(target), target)  # the customer reads it out
        mode = "full" if self.member.role == "impersonator" and self.rng.random() < 0.5 else "read_only"
        data = {
            "csrf_token": csrf(page),
            "justification": JUSTIFICATION,
            "ticket": f"LOAD-{self.rng.randrange(10_000)}",
            "duration": "15",
            "mode": mode,
            "access_code": access_code,
            "totp_code": self.code(step),
        }
        asked = c.post("console.impersonate", CONSOLE, f"/users/{target.id}/impersonate", data)
        if owned and asked is not None and asked.status_code == 403:
            self.world.tally.add("impersonation refused: the customer changed consent or code meanwhile")
            return
        # POST-redirect-GET: the handoff page is the redirect's one GET; full mode waits for a
        # second person first (DESIGN §11): its request's page, started once approved.
        expect("console.impersonate", asked, 303)
        waiting = _APPROVAL_PAGE.fullmatch(urlsplit(asked.headers["Location"]).path)
        if waiting:
            self.waiting.append((int(waiting.group(1)), owned))
            self.world.tally.add("full-mode requests waiting for a second person")
            return
        self.hand_over("console.impersonate", asked, mode, owned)

    def hand_over(self, kind: str, asked, mode: str, owned: bool) -> None:
        """The handoff page the request redirected to, the redemption, the ghost's pages, End."""
        handoff_path = urlsplit(asked.headers["Location"]).path
        launch = expect("console.handoff", self.client.get("console.handoff", CONSOLE, handoff_path), 200)
        action, token = _LAUNCH_FORM.search(launch.text), HANDOFF_TOKEN.search(launch.text)
        if action is None or token is None:
            raise Unexpected(kind, launch, "no handoff form")
        redeem_url = urlsplit(action.group(1))
        self.world.tally.add("impersonations issued")
        if self.redeem(redeem_url.hostname, redeem_url.path, token.group(1), owned):
            self.as_ghost(redeem_url.hostname, mode, owned)

    def approvals(self) -> bool:
        """An impersonator's turn at the Approvals page: start an own request once approved, else
        approve another member's (the seed lets impersonators approve). Returns whether it acted."""
        c = self.client
        for approval_id, owned in list(self.waiting):
            page = self.approval_page(approval_id)
            if "Start the impersonation" not in page.text:
                continue
            step = self.fresh_step()
            if step is None:
                return False
            self.waiting.remove((approval_id, owned))
            data = {"csrf_token": csrf(page), "totp_code": self.code(step)}
            asked = c.post("console.approval_start", CONSOLE, f"/approvals/{approval_id}/start", data)
            if owned and asked is not None and asked.status_code == 403:
                self.world.tally.add("impersonation refused: the customer changed consent or code meanwhile")
                return True
            expect("console.approval_start", asked, 303)
            self.world.tally.add("approved requests started")
            self.hand_over("console.approval_start", asked, "full", owned)
            return True
        queue = expect("console.approvals", c.get("console.approvals", CONSOLE, "/approvals"), 200)
        others = _APPROVAL_LINK.findall(queue.text.split("Your requests", 1)[0])
        if not others:
            return False
        approval_id = self.rng.choice(others)
        page = self.approval_page(approval_id)
        if "Your decision" not in page.text:
            return False  # decided by someone else a moment ago
        data = {"csrf_token": csrf(page), "decision": "approve", "mode": "full", "duration": "15", "note": ""}
        decided = c.post("console.approval_decide", CONSOLE, f"/approvals/{approval_id}/decide", data)
        # 409: another approver decided it a moment earlier (one decision is recorded, DESIGN §11).
        decided = expect("console.approval_decide", decided, 303, 409)
        self.world.tally.add(
            "requests approved by a second person" if decided.status_code == 303 else "approvals lost a race"
        )
        return True

    def approval_page(self, approval_id: int) -> requests.Response:
        path = f"/approvals/{approval_id}"
        return expect("console.approval", self.client.get("console.approval", CONSOLE, path), 200)

    def phone(self, customer: Customer) -> Client:
        client = self.phones.get(customer.id)
        if client is None:
            client = self.world.client(f"10.4.{customer.id // 250}.{customer.id % 250 + 1}")
            customer_sign_in(client, customer)
            self.phones[customer.id] = client
        return client

    def redeem(self, host: str, path: str, token: str, owned: bool) -> bool:
        """POST the token as the handoff page does; now and then a stolen copy races it (I2).
        Returns whether this browser holds the ghost session. `owned`: the account's customer may
        revoke the session, whoever won it."""
        if self.rng.random() >= self.world.race_share:
            answer = self.client.post("tenant.redeem", host, path, {"token": token})
            expect("tenant.redeem", answer, 303)
            self.world.redeemed(token, 1)
            self.world.used_tokens.append((host, path, token))
            self.world.tally.add("redeemed")
            return True
        thief = self.world.client(f"10.9.{self.rng.randrange(250)}.{self.rng.randrange(1, 250)}")
        barrier, answers = threading.Barrier(2), {}

        def post(client: Client, who: str, kind: str) -> None:
            barrier.wait(5)
            answers[who] = client.post(kind, host, path, {"token": token})

        racer = threading.Thread(target=post, args=(thief, "thief", "attack.race"))
        racer.start()
        post(self.client, "staff", "tenant.redeem")
        racer.join()
        won = [who for who, answer in answers.items() if answer is not None and answer.status_code == 303]
        lost = [answers[who] for who in answers if who not in won]
        self.world.redeemed(token, len(won))
        self.world.tally.add("redemption races")
        if len(won) != 1 or any(answer is None or answer.status_code != 410 for answer in lost):
            raise Unexpected("tenant.redeem", lost[0] if lost else None, f"race: {len(won)} winners")
        self.world.used_tokens.append((host, path, token))
        self.world.tally.add(f"race won by the {won[0]}")
        if won[0] == "thief":
            self.end_ghost(thief, host, "ghost.end", owned=owned)  # the script cleans up after its thief
            return False
        return True

    def as_ghost(self, host: str, mode: str, owned: bool) -> None:
        c = self.client
        for path in ("/", "/account", "/"):
            page = c.get("ghost.page", host, path)
            if self.revoked(c, host, owned, page):
                return
            if "is-ghost" not in expect("ghost.page", page, 200).text:
                raise Unexpected("ghost.page", page, "no ghost banner")
            self.think(0.3, 1.0)
        data = {"csrf_token": csrf(page), "name": f"Ghost project {secrets.token_hex(3)}"}
        change = c.post("ghost.change", host, "/projects", data)
        if self.revoked(c, host, owned, change):
            return
        if mode == "read_only":
            refused = expect("ghost.change", change, 403)
            if "read-only" not in refused.text:
                raise Unexpected("ghost.change", refused, "refused, but not as read-only")
        else:
            expect("ghost.change", change, 303)
        self.end_ghost(c, host, "ghost.end", owned=owned)

    def revoked(self, client: Client, host: str, owned: bool, answer) -> bool:
        """Did the account's customer revoke the session (`owned`: one may)? Then it is over: counted,
        and the browser forgets it."""
        ended = answer is not None and answer.status_code == 403 and "Impersonation ended" in answer.text
        if not (owned and ended):
            return False
        self.world.tally.add("ghost ended by the customer's revoke")
        client.forget(host)
        return True

    def end_ghost(self, client: Client, host: str, kind: str, *, owned: bool = False) -> None:
        page = client.get("ghost.page", host, "/")
        if self.revoked(client, host, owned, page):
            return
        expect("ghost.page", page, 200)
        answer = client.post(kind, host, "/impersonation/end", {"csrf_token": csrf(page)})
        if self.revoked(client, host, owned, answer):  # the revoke landed between the page and End
            return
        expect(kind, answer, 303)
        if not answer.headers.get("Location", "").endswith("/impersonation/ended"):
            raise Unexpected(kind, answer, "End did not land on its confirmation")
        ended = expect("ghost.ended", client.get("ghost.ended", host, "/impersonation/ended"), 200)
        if "/users/" not in ended.text:
            raise Unexpected("ghost.ended", ended, "the confirmation has no way back to the console")
        client.forget(host)
        self.world.tally.add("ended with the banner's End")

    def wind_down(self) -> None:
        """End whatever this member left open (a lost answer, a fault mid-flow) from the console."""
        for _attempt in range(3):
            try:
                if not self.signed_in:
                    self.sign_in()
                mine = expect(
                    "console.mine", self.client.get("console.mine", CONSOLE, "/impersonations/mine"), 200
                )
                for path in _MY_END.findall(mine.text):
                    answer = self.client.post("console.end", CONSOLE, path, {"csrf_token": csrf(mine)})
                    expect("console.end", answer, 303)
                    self.world.tally.add("ended from My impersonations after the run")
                return
            except Unexpected:
                self.signed_in = False
                time.sleep(1.0)
        raise Unexpected("console.mine", None, "could not end what was left open")


class CustomerPerson(Person):
    """Minds their own account: home, projects, Settings → Support access (codes, opt-in and out),
    access history, and *Revoke now* on a live support session."""

    def __init__(self, world: World, customer: Customer, n: int) -> None:
        super().__init__(world, f"customer-{n:03d}", f"10.2.{n // 250}.{n % 250 + 1}", 10_000 + n)
        self.customer = customer
        self.signed_in = False

    def prepare(self) -> None:
        customer_sign_in(self.client, self.customer)
        self.signed_in = True

    def act(self) -> None:
        host, c = self.customer.host, self.client
        if not self.signed_in:
            customer_sign_in(c, self.customer)
            self.signed_in = True
        home = c.get("customer.home", host, "/")
        if home is not None and home.status_code == 302:
            self.signed_in = False
        home = expect("customer.home", home, 200)
        choice = self.rng.random()
        if choice < 0.15:
            data = {"csrf_token": csrf(home), "name": f"Project {secrets.token_hex(3)}"}
            expect("customer.project", c.post("customer.project", host, "/projects", data), 303)
        elif choice < 0.35:
            generate_code(c, self.customer)
            self.think()
            if self.rng.random() < 0.5:
                page = expect("customer.page", c.get("customer.page", host, "/settings/support-access"), 200)
                answer = c.post(
                    "customer.revoke_code",
                    host,
                    "/settings/support-access/code/revoke",
                    {"csrf_token": csrf(page)},
                )
                expect("customer.revoke_code", answer, 303)
        elif choice < 0.55 and self.customer.policy == "opt_in_or_code":
            page = expect("customer.page", c.get("customer.page", host, "/settings/support-access"), 200)
            if self.rng.random() < 0.5:
                data = {"csrf_token": csrf(page), "period": "8h"}
                expect(
                    "customer.opt_in",
                    c.post("customer.opt_in", host, "/settings/support-access/opt-in", data),
                    303,
                )
            else:
                data = {"csrf_token": csrf(page)}
                expect(
                    "customer.opt_out",
                    c.post("customer.opt_out", host, "/settings/support-access/opt-out", data),
                    303,
                )
        else:
            page = expect(
                "customer.history", c.get("customer.history", host, "/settings/support-access/history"), 200
            )
            live = _HISTORY_REVOKE.findall(page.text)
            if live and self.rng.random() < 0.5:
                answer = c.post("customer.revoke", host, live[0], {"csrf_token": csrf(page)})
                expect("customer.revoke", answer, 303)
                self.world.tally.add("sessions revoked by customers")
        self.think()
