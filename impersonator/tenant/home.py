"""The signed-in customer's home page."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("tenant_home", __name__)


@bp.get("/")
def index():
    return render_template("tenant/home.html")
