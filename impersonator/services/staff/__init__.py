"""Staff accounts: sign-in with password and TOTP, console sessions, lockout, enrolment, roles."""
