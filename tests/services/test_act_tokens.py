"""`act` tokens (DESIGN §12, RFC 8693 §4.1) and the keys that sign them: the claims exactly, `exp` never
past the session's end, only allowed audiences, Ed25519 keys shared through the database with the
private half encrypted at rest, and rotation that keeps tokens in flight verifying until they expire."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError

from impersonator.extensions import db
from impersonator.models import AuditEvent, SigningKey
from impersonator.services import secret_box, signing_keys
from impersonator.services.audit import Actor
from impersonator.services.delivery import events
from impersonator.services.impersonation import act_tokens
from impersonator.services.impersonation.act_tokens import AudienceNotAllowed
from impersonator.services.impersonation.ghost import Ghost, ImpersonationEnded
from impersonator.services.signing_keys import NoSigningKey

ACTOR = Actor.system("cli")
TTL = 300


def a_ghost(clock, *, minutes_left: float = 60, mode: str = "read_only") -> Ghost:
    return Ghost(
        impersonation_id=42,
        staff_id=7,
        staff_name="Sam Support",
        staff_email="sam@staff.example",
        user_id=11,
        user_name="Alice Anderson",
        tenant_name="Acme",
        mode=mode,
        expires_at=clock.now() + timedelta(minutes=minutes_left),
    )


@pytest.fixture
def keyed(app, clock):
    """The app with its first signing key (as `make run` seeds it); yields inside an app context."""
    with app.app_context():
        signing_keys.ensure_key(actor=ACTOR, ip=None, now=clock.now())
        yield app


def mint(clock, ghost: Ghost | None = None, audience: str = "projects-api") -> str:
    return act_tokens.mint(ghost or a_ghost(clock), audience=audience, now=clock.now())


def verify(token: str, clock, audience: str = "projects-api") -> dict:
    return act_tokens.verify(token, audience=audience, now=clock.now())


def unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# --- claims ----------------------------------------------------------------------------------------


def test_the_claims_are_subject_actor_audience_times_id_and_mode_and_nothing_else(keyed, clock):
    token = mint(clock, a_ghost(clock, mode="full"))
    now = int(clock.now().timestamp())

    claims = verify(token, clock)

    jti = claims.pop("jti")
    assert claims == {
        "iss": "http://console.localhost",
        "sub": "11",
        "act": {"sub": "7", "name": "Sam Support"},
        "aud": "projects-api",
        "iat": now,
        "exp": now + TTL,
        "imp": 42,
        "imp_mode": "full",
    }
    assert len(jti) >= 16 and jti != unverified(mint(clock))["jti"]


def test_the_header_names_the_signing_key_and_eddsa(keyed, clock):
    header = jwt.get_unverified_header(mint(clock))

    [key] = db.session.scalars(select(SigningKey)).all()
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}


def test_exp_is_never_beyond_the_sessions_end(keyed, clock):
    ghost = a_ghost(clock, minutes_left=2.5)  # less than the 300 s lifetime left

    claims = verify(mint(clock, ghost), clock)

    assert claims["exp"] == int(ghost.expires_at.timestamp())
    assert claims["exp"] - claims["iat"] == 150


def test_a_session_with_no_whole_second_left_mints_nothing(keyed, clock):
    with pytest.raises(ImpersonationEnded):
        mint(clock, a_ghost(clock, minutes_left=0.01))
    with pytest.raises(ImpersonationEnded):
        mint(clock, a_ghost(clock, minutes_left=-1))


def test_the_lifetime_follows_act_token_ttl_seconds(make_app, clock):
    app = make_app(ACT_TOKEN_TTL_SECONDS=45)
    with app.app_context():
        signing_keys.ensure_key(actor=ACTOR, ip=None, now=clock.now())
        claims = verify(mint(clock), clock)

    assert claims["exp"] - claims["iat"] == 45


# --- audiences ---------------------------------------------------------------------------------------


def test_an_audience_outside_the_allow_list_is_refused(keyed, clock):
    with pytest.raises(AudienceNotAllowed) as refused:
        mint(clock, audience="billing-api")

    assert refused.value.reason == "act_audience_not_allowed" and refused.value.status == 403


def test_the_allow_list_comes_from_act_token_audiences(make_app, clock):
    app = make_app(ACT_TOKEN_AUDIENCES=["billing-api"])
    with app.app_context():
        signing_keys.ensure_key(actor=ACTOR, ip=None, now=clock.now())
        token = mint(clock, audience="billing-api")
        assert verify(token, clock, audience="billing-api")["aud"] == "billing-api"
        with pytest.raises(AudienceNotAllowed):
            mint(clock, audience="projects-api")


def test_a_token_for_one_back_end_is_refused_by_another(keyed, clock):
    token = mint(clock)

    with pytest.raises(jwt.InvalidAudienceError):
        verify(token, clock, audience="billing-api")


# --- refused tokens ------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(keyed, clock):
    token = mint(clock)
    clock.advance(seconds=TTL - 1)
    assert verify(token, clock)["sub"] == "11"

    clock.advance(seconds=1)

    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, clock)


def _segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_tampered_token_is_refused(keyed, clock):
    header, payload, signature = mint(clock).split(".")
    claims = unverified(f"{header}.{payload}.{signature}")
    forged_payload = _segment({**claims, "sub": "12"})
    forged_actor = _segment({**claims, "act": {"sub": "1", "name": "Ada Admin"}})
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")

    for forged in (f"{header}.{forged_payload}.{signature}", f"{header}.{forged_actor}.{signature}"):
        with pytest.raises(jwt.InvalidSignatureError):
            verify(forged, clock)
    with pytest.raises(jwt.InvalidTokenError):
        verify(f"{header}.{payload}.{flipped}", clock)


def test_a_token_signed_with_an_unpublished_key_or_another_algorithm_is_refused(keyed, clock):
    claims = unverified(mint(clock))
    kid = jwt.get_unverified_header(mint(clock))["kid"]
    stranger = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
    unknown_kid = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "x"})
    secret = "a shared secret, long enough for HS256"
    hmac_signed = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})

    for token in (stranger, unknown_kid, hmac_signed):
        with pytest.raises(jwt.InvalidTokenError):
            verify(token, clock)


def test_a_token_missing_a_claim_is_refused(keyed, clock):
    kid, private_key = signing_keys.signing_key()
    claims = unverified(mint(clock))
    del claims["act"]
    token = jwt.encode(claims, private_key, algorithm="EdDSA", headers={"kid": kid})

    with pytest.raises(jwt.MissingRequiredClaimError):
        verify(token, clock)


# --- keys ----------------------------------------------------------------------------------------------


def test_nothing_is_minted_before_the_first_key_exists(app, clock):
    with app.app_context():
        with pytest.raises(NoSigningKey) as refused:
            mint(clock)
        assert signing_keys.jwks(clock.now()) == {"keys": []}

    assert "flask act-keys rotate" in refused.value.message


def test_ensure_key_creates_the_first_key_once_and_audits_it(app, clock):
    with app.app_context():
        first = signing_keys.ensure_key(actor=ACTOR, ip=None, now=clock.now())
        again = signing_keys.ensure_key(actor=ACTOR, ip=None, now=clock.now())
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("signing_key.%"))).all()

        assert first and again is None
        assert [k.kid for k in db.session.scalars(select(SigningKey))] == [first]
        assert [(e.action, json.loads(e.details)["kid"]) for e in events] == [("signing_key.created", first)]


def test_the_kid_is_the_keys_rfc_7638_thumbprint(keyed, clock):
    [entry] = signing_keys.jwks(clock.now())["keys"]

    # RFC 8037 appendix A.3: the thumbprint of its example key.
    assert signing_keys.thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo") == (
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    )
    assert entry["kid"] == signing_keys.thumbprint(entry["x"])


def test_the_private_key_is_encrypted_at_rest_and_never_published(keyed, clock):
    kid, private_key = signing_keys.signing_key()
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    in_clear = {
        base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        raw.hex(),
        base64.b64encode(raw).decode(),
    }
    in_clear |= {text.rstrip("=") for text in in_clear}
    row = db.session.scalar(select(SigningKey).where(SigningKey.kid == kid))
    stored = " ".join(str(getattr(row, column.key)) for column in SigningKey.__table__.columns)
    published = json.dumps(signing_keys.jwks(clock.now()))

    assert not [text for text in in_clear if text in stored or text in published]
    assert secret_box.decrypt(row.private_key_encrypted) in in_clear  # encrypted, not lost
    assert set(json.loads(published)["keys"][0]) == {"kty", "crv", "x", "kid", "use", "alg"}


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published_until_its_tokens_expire(
    keyed, clock
):
    before = mint(clock)
    old_kid = jwt.get_unverified_header(before)["kid"]

    rotation = signing_keys.rotate(actor=ACTOR, ip="192.0.2.1", now=clock.now())

    after = mint(clock)
    assert rotation.retired == (old_kid,) and rotation.kid != old_kid
    assert jwt.get_unverified_header(after)["kid"] == rotation.kid
    assert [k["kid"] for k in signing_keys.jwks(clock.now())["keys"]] == [rotation.kid, old_kid]
    assert verify(before, clock)["sub"] == verify(after, clock)["sub"] == "11"
    old = db.session.scalar(select(SigningKey).where(SigningKey.kid == old_kid))
    assert old.retired_at == clock.now() and old.private_key_encrypted is None  # never signs again

    clock.advance(seconds=TTL - 1)
    assert [k["kid"] for k in signing_keys.jwks(clock.now())["keys"]] == [rotation.kid, old_kid]
    assert verify(before, clock)["jti"]

    clock.advance(seconds=1)
    assert [k["kid"] for k in signing_keys.jwks(clock.now())["keys"]] == [rotation.kid]
    with pytest.raises(jwt.InvalidTokenError):
        verify(before, clock)
    assert [s.state for s in signing_keys.list_keys(clock.now())] == ["signing", "gone"]


def test_rotation_is_audited_with_the_new_and_retired_keys(keyed, clock):
    old_kid = signing_keys.signing_key()[0]

    rotation = signing_keys.rotate(actor=Actor.system("cli"), ip=None, now=clock.now())

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signing_key.rotated"))
    assert event.actor_label == "cli" and event.target_type == "signing_key"
    assert json.loads(event.details) == {
        "kid": rotation.kid,
        "retired": [old_kid],
        "published_until": (clock.now() + timedelta(seconds=TTL)).isoformat(),
    }


def test_rotate_with_no_key_creates_the_first(app, clock):
    with app.app_context():
        rotation = signing_keys.rotate(actor=ACTOR, ip=None, now=clock.now())

        assert rotation.retired == ()
        assert signing_keys.signing_key()[0] == rotation.kid


@pytest.mark.parametrize("step", ["ensure", "rotate"])
def test_i1_a_failing_audit_write_creates_no_key_and_retires_none(keyed, clock, monkeypatch, step):
    """The key and its audit event commit together or not at all (the write fails at commit, as the
    chain is appended)."""
    before = [(k.kid, k.retired_at) for k in db.session.scalars(select(SigningKey))]
    if step == "ensure":
        db.session.execute(delete(SigningKey))
        db.session.commit()
        before = []

    def outbox_fails(event):
        raise OperationalError("INSERT INTO outbox_message", {}, Exception("disk I/O error"))

    monkeypatch.setattr(events, "published", outbox_fails)
    with pytest.raises(OperationalError):
        change = signing_keys.ensure_key if step == "ensure" else signing_keys.rotate
        change(actor=ACTOR, ip=None, now=clock.now())
    db.session.rollback()
    monkeypatch.undo()

    assert [(k.kid, k.retired_at) for k in db.session.scalars(select(SigningKey))] == before
