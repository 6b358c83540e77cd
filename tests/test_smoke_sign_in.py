from tests.support.records import audit_actions
from tests.support.web import CONSOLE, sign_in


def test_staff_signs_in_with_password_and_totp(app, client, make_staff, clock):
    account = make_staff("support")
    sign_in(client, account, clock)
    home = client.get("/", base_url=CONSOLE)
    assert home.status_code == 200
    assert "Welcome" in home.text
    assert ("staff.signed_in", "success") in audit_actions(app)
