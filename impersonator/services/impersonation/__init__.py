"""Impersonations: who may, the request and its token, redemption, the ghost session, live oversight."""
