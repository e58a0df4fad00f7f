"""The watch's findings as Prometheus metrics in a textfile (node_exporter's textfile collector reads it, or any
tool that scrapes files), written with prometheus-client, so teams with Prometheus and Alertmanager watch hundreds
of services with the tools they have; `docs/alerts.yml` holds example alert rules over these names.

Written whole each round, atomically (`prometheus_client.write_to_textfile` writes a temporary file and renames it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client import Enum as EnumMetric

from bascule.readiness.verify import PRIMARY
from bascule.watch.observe import SECONDARY, Observation
from bascule.watch.states import State
from bascule.watch.store import WatchState

ROLES = (PRIMARY, SECONDARY)


def registry(
    observations: list[Observation], state: WatchState, drills: list[dict[str, Any]], now: datetime,
    cycle_seconds: float, failed_deliveries: int,
) -> CollectorRegistry:  # fmt: skip
    """Every metric of one round. `drills`: the drill history's rows (`bascule.drills.history.read`)."""
    found = CollectorRegistry()
    ready = Gauge("bascule_site_ready", "1 when the site serves the hostname (TLS, certificate, binding, health).",
                  ["service", "site"], registry=found)  # fmt: skip
    # Seconds, not days: Prometheus's base unit (https://prometheus.io/docs/practices/naming/; promtool's lint).
    expires = Gauge("bascule_certificate_expires_in_seconds", "Seconds until the site's certificate for the hostname "
                    "expires (days left x 86400).", ["service", "site"], registry=found)  # fmt: skip
    serving = Gauge("bascule_serving", "1 for the site DNS sends clients to (every resolver that answered agrees).",
                    ["service", "site"], registry=found)  # fmt: skip
    lag = Gauge("bascule_replication_lag_seconds", "The data standby's measured lag (at least the wait if not "
                "confirmed).", ["service", "database"], registry=found)  # fmt: skip
    drill_ok = Gauge("bascule_last_drill_success", "1 when the service's last drill passed.", ["service"],
                     registry=found)  # fmt: skip
    drill_at = Gauge("bascule_last_drill_timestamp_seconds", "When the service's last drill started (Unix time).",
                     ["service"], registry=found)  # fmt: skip
    drill_age = Gauge("bascule_last_drill_age_seconds", "Seconds since the service's last drill started.",
                      ["service"], registry=found)  # fmt: skip
    states = EnumMetric("bascule_service_state", "The service's watch state.", ["service"],
                        states=[s.value for s in State], registry=found)  # fmt: skip
    checked = Gauge("bascule_watch_last_round_timestamp_seconds", "When the watch's last round ended (Unix time).",
                    registry=found)  # fmt: skip
    took = Gauge("bascule_watch_round_seconds", "How long the watch's last round took.", registry=found)
    failed = Gauge("bascule_watch_failed_deliveries", "Notifications of the last round that failed after retries.",
                   registry=found)  # fmt: skip
    for seen in observations:
        for site in seen.readiness.sites:
            ready.labels(seen.service, site.role).set(1 if site.ready else 0)
            if site.certificate is not None:
                expires.labels(seen.service, site.role).set(site.certificate.days_left * 86400)
        for role in ROLES:
            serving.labels(seen.service, role).set(1 if seen.serving == role else 0)
        for database, seconds in seen.lag_seconds.items():
            lag.labels(seen.service, database).set(seconds)
    for name, entry in state.services.items():
        states.labels(name).state(entry.state.value)
    last: dict[str, dict[str, Any]] = {}
    for row in sorted(drills, key=lambda r: str(r["started"])):
        last[str(row["service"])] = row
    for name, row in last.items():
        try:
            started = datetime.fromisoformat(str(row["started"]))
        except ValueError:
            continue
        drill_ok.labels(name).set(1 if row["status"] == "pass" else 0)
        drill_at.labels(name).set(started.timestamp())
        drill_age.labels(name).set(max(0.0, (now - started).total_seconds()))
    checked.set(now.timestamp())
    took.set(cycle_seconds)
    failed.set(failed_deliveries)
    return found


def write(path: Path, metrics: CollectorRegistry) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), metrics)
