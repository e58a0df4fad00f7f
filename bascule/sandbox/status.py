"""The sandbox's status for people: `Sandbox.status()` (the JSON form) as labelled lines in words."""

from __future__ import annotations

from typing import Any

from bascule.sandbox.sandbox import ADDRESSES


def answer_text(addresses: list[str]) -> str:
    """`127.0.0.2 (primary)`: the addresses DNS answers, named by the site that holds them."""
    roles = {address: role for role, address in ADDRESSES.items()}
    named = [f"{a} ({roles[a]})" if a in roles else a for a in addresses]
    return ", ".join(named) or "nothing (no answer)"


def databases_text(databases: dict[str, Any]) -> str:
    """Each database cluster up or down, and the standby's state (`bascule.data.status` states)."""
    clusters = [f"{role} {c['address']} {'up' if c['alive'] else 'DOWN'}" for role, c in databases.items()
                if isinstance(c, dict)]  # fmt: skip
    state = databases.get("state") or "unknown"
    said = "the standby is a replica" if state == "replica" else f"the standby is {state}"
    return f"{', '.join(clusters)}; {said}"


def acme_text(found: dict[str, Any]) -> str:
    """The secondary's ACME certificate: issuer, days left, when it renews, and whether renewal can work."""
    cert = found.get("certificate")
    held = f"{cert['issuer']}, {cert['days_left']:g} days left" if cert else "no certificate yet"
    issued = f"; issued by DNS-01 while DNS answered {answer_text(found['issued_while'])}" if cert else ""
    renewal = "works" if found["mode"] == "healthy" else f"fails ({found['mode']})"
    return f"{held}{issued}; renewed at {found['renew_days']} days left by {found['directory']}, renewal {renewal}"


def status_lines(info: dict[str, Any]) -> list[tuple[str, str]]:
    """`sandbox status` for people: one labelled line per fact, in words (its JSON keeps the structure)."""
    processes = ", ".join(f"{name} {'up' if up else 'DOWN'}" for name, up in info["processes"].items())
    sites = "; ".join(f"{role} {site['url']} ({site['mode']})" for role, site in info["sites"].items())
    return [
        ("directory", info["directory"]),
        ("hostname", info["hostname"]),
        ("DNS answers", answer_text(info["answer"])),
        ("authoritative", info["dns"]),
        ("recursor", info["resolver"] or "none"),
        ("processes", processes or "none recorded"),
        ("sites", sites),
        ("databases", databases_text(info["databases"]) if info["databases"] else "none (`bascule sandbox up --data`)"),
        ("ACME", acme_text(info["acme"]) if info["acme"] else "none (`bascule sandbox up --acme`)"),
        ("failover bound", f"{info['failover_bound_seconds']:g} s (detection + TTL)"),
        ("CA", info["ca"]),
        ("PowerDNS", str(info["pdns_version"])),
    ]
