"""The attackers: replays of used tokens (never accepted), forged tokens, tokens in addresses, and
an insider guessing victims' support access codes (never right; the victim's code locks)."""

from __future__ import annotations

import secrets
import time

from scripts.loadtest.people import (
    CONSOLE,
    HANDOFF_TOKEN,
    JUSTIFICATION,
    STEP_SECONDS,
    Person,
    StaffPerson,
    World,
    csrf,
    expect,
)
from scripts.loadtest.seed import Customer, StaffMember

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the alphabet of support access codes


class AttackerPerson(Person):
    """Replays used tokens (never accepted), sends forged ones and tokens in addresses, and, as a
    signed-in insider, guesses victims' support access codes (never right; the code locks)."""

    def __init__(self, world: World, member: StaffMember, n: int, victims: list[Customer]) -> None:
        super().__init__(world, f"attacker-{n:03d}", f"10.3.{n // 250}.{n % 250 + 1}", 20_000 + n)
        self.insider = StaffPerson(world, member, 900 + n, victims)
        self.insider.client = self.client
        self.victims = victims

    def prepare(self) -> None:
        self.insider.sign_in()

    def act(self) -> None:
        choice = self.rng.random()
        if choice < 0.5 and self.world.used_tokens:
            host, path, token = self.rng.choice(list(self.world.used_tokens))
            answer = self.client.post("attack.replay", host, path, {"token": token})
            self.world.tally.add("replays sent")
            if answer is not None and answer.status_code < 400:
                self.world.redeemed(token, 1)
                self.world.tally.add("REPLAYS ACCEPTED")
            expect("attack.replay", answer, 410, 429)
            self.world.tally.add("replays refused")
        elif choice < 0.65:
            host = self.rng.choice(self.victims).host
            forged = secrets.token_urlsafe(40) + "." + secrets.token_urlsafe(20)
            expect(
                "attack.forged",
                self.client.post("attack.forged", host, "/impersonation/redeem", {"token": forged}),
                400,
            )
        elif choice < 0.75 and self.world.used_tokens:
            host, path, token = self.rng.choice(list(self.world.used_tokens))
            expect(
                "attack.token_in_address",
                self.client.get("attack.token_in_address", host, f"{path}?token={token}"),
                405,
            )
        else:
            self.guess_code()
        self.think(0.3, 1.0)

    def guess_code(self) -> None:
        if not self.insider.signed_in:
            self.insider.sign_in()
        victim = self.rng.choice(self.victims)
        page = expect("console.user", self.client.get("console.user", CONSOLE, f"/users/{victim.id}"), 200)
        step = int(time.time()) // STEP_SECONDS  # the right TOTP code: only the access code is guessed
        guess = "".join(self.rng.choice(CROCKFORD) for _ in range(8))
        data = {
            "csrf_token": csrf(page),
            "justification": JUSTIFICATION,
            "duration": "15",
            "mode": "read_only",
            "access_code": f"{guess[:4]}-{guess[4:]}",
            "totp_code": self.insider.totp.generate_otp(step),
        }
        answer = self.client.post("attack.code_guess", CONSOLE, f"/users/{victim.id}/impersonate", data)
        self.world.tally.add("access codes guessed")
        if answer is not None and answer.status_code == 200 and HANDOFF_TOKEN.search(answer.text):
            self.world.tally.add("GUESSED CODES ACCEPTED")
        expect("attack.code_guess", answer, 400, 403, 429)
