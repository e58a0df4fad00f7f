"""The service spec: what a platform engineer writes under `bascule:services` in a stack file.

Validated once, before any resource is declared, so a bad value costs a one-line error instead of a
half-applied stack. Defaults aim at fast but damped failover: 10 s checks, 3 consecutive failures,
60 s TTL (about 90 s before most clients move), a warm secondary with at least one replica.

Sites, the DNS switch and the data standby are plug-ins: each is validated by the model its `kind`'s declaration
names (`bascule.spec.plugins`), and the rules across them ask those declarations, never a kind's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from bascule import facts
from bascule.io.escaping import quoted
from bascule.spec import plugins
from bascule.spec.base import DataSpecBase, DnsSpecBase, DrillFault, Model, Role, SiteSpecBase, is_hostname

_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")
"""A service name, with `fullmatch`: it becomes part of cloud resource names."""
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")
"""An absolute URL path and query of RFC 3986's characters (section 3.3 `pchar`, '/', '?'): nothing a client would
have to escape, so the checker sends exactly what the spec says."""


TAG_SERVICE = "bascule:service"
TAG_ROLE = "bascule:role"
TAG_CRITICALITY = "bascule:criticality"
TAG_RTO = "bascule:rto-seconds"
TAG_RPO = "bascule:rpo-seconds"
"""Tag (AWS, Azure) keys every resource of a service carries; inventories and policies find workloads by them."""


class Criticality(StrEnum):
    CRITICAL = "critical"
    IMPORTANT = "important"
    STANDARD = "standard"


MAX_RTO_SECONDS = 7 * 24 * 3600
"""A week: an RTO or RPO beyond it is a typo, not a recovery objective."""
MAX_SERVICES_PER_STACK = 100
"""Services one stack file may declare. Measured (benchmarks/plan_stack.py, `--services 100`): 100 services are
3,710 resources, planned offline in 12 s with a 693 MiB peak; 2,000 exhausted 2 GiB and crashed the planner. A
stack that size is also one `pulumi up` holding every service's fate: split services across stacks instead."""

SiteSpec = SiteSpecBase
"""A site of any registered kind (the model its kind's plug-in declares)."""
DnsSpec = DnsSpecBase
"""A DNS backend of any registered kind."""


def _by_kind(value: Any, declared: Callable[[str], plugins.SiteKind | plugins.DnsBackend | plugins.DataStandby]) -> Any:
    """A mapping validated by the model its `kind`'s declaration names; errors keep their place below the field.
    A model instance (a spec built in Python) passes as it is."""
    if not isinstance(value, Mapping):
        return value
    kind = value.get("kind")
    if kind is None:
        raise _kind_error("missing", "Field required", value)
    try:
        model = declared(str(kind)).spec
    except plugins.UnknownKindError as exc:
        raise _kind_error("unknown_kind", str(exc), kind) from None
    return model.model_validate(value)


def _kind_error(error_type: str, message: str, value: object) -> ValidationError:
    """One error at `kind`: raised from a field validator, pydantic places it at `<field>.kind`."""
    detail: InitErrorDetails = {"type": PydanticCustomError(error_type, message), "loc": ("kind",), "input": value}
    return ValidationError.from_exception_data("kind", [detail])


class HealthCheckSpec(Model):
    protocol: Literal["HTTPS", "HTTP"] = "HTTPS"
    path: str = "/healthz"
    port: int | None = Field(default=None, ge=1, le=65535)
    interval_seconds: int = Field(default=10, ge=1)
    failure_threshold: int = 3
    search_string: str | None = None

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (443 if self.protocol == "HTTPS" else 80)

    def timeout_exceeds(self, timeout_seconds: int) -> bool:
        return self.interval_seconds <= timeout_seconds

    @property
    def detection_seconds(self) -> int:
        return self.interval_seconds * self.failure_threshold

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not _PATH.fullmatch(v):
            raise ValueError(f"{quoted(v)} must be an absolute URL path starting with '/', of URL characters only "
                             "(no spaces or control characters; percent-encode the rest)")  # fmt: skip
        if len(v) > facts.ROUTE53_RESOURCE_PATH_MAX:
            raise ValueError(f"must be at most {facts.ROUTE53_RESOURCE_PATH_MAX} characters (Route 53's limit), "
                             f"not {len(v)}")  # fmt: skip
        return v

    @field_validator("search_string")
    @classmethod
    def _search(cls, v: str | None) -> str | None:
        if v is not None and not 1 <= len(v) <= facts.ROUTE53_SEARCH_STRING_MAX:
            raise ValueError(f"must be 1 to {facts.ROUTE53_SEARCH_STRING_MAX} characters")
        return v


class ServiceSpec(Model):
    name: str
    hostname: str
    criticality: Criticality = Criticality.CRITICAL
    rto_seconds: int = Field(default=300, gt=0, le=MAX_RTO_SECONDS)
    rpo_seconds: int = Field(default=60, ge=0, le=MAX_RTO_SECONDS)
    allow_rto_overrun: bool = False
    """Opt out of the RTO budget error for this service: the overrun is then reported as a warning."""
    allow_same_region: bool = False
    """Accept a secondary in the primary's provider and region (another account, say): a warning here, and
    the policy check still rejects it for critical services."""
    primary: SerializeAsAny[SiteSpec]
    secondary: SerializeAsAny[SiteSpec]
    health_check: HealthCheckSpec = HealthCheckSpec()
    dns: SerializeAsAny[DnsSpec]
    data: SerializeAsAny[DataSpecBase] | None = None
    """A data standby of a registered kind (`kind: postgres`)."""

    @classmethod
    def _spec_label(cls, data: Mapping[str, Any]) -> str:
        """A service's problems name the service, as the stack-file loader's do."""
        name = data.get("name")
        return f"service '{name}'" if isinstance(name, str) and name else cls.__name__

    @field_validator("primary", "secondary", mode="before")
    @classmethod
    def _site(cls, v: Any) -> Any:
        return _by_kind(v, plugins.site_kind)

    @field_validator("dns", mode="before")
    @classmethod
    def _dns(cls, v: Any) -> Any:
        return _by_kind(v, plugins.dns_backend)

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, v: Any) -> Any:
        if isinstance(v, Mapping) and "kind" not in v:
            v = {**v, "kind": "postgres"}  # the one data standby there was before kinds were declared
        return _by_kind(v, plugins.data_standby)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError(
                f"{quoted(v)} must be 2-32 lowercase letters, digits or '-', starting with a letter "
                "(it becomes part of cloud resource names)"
            )
        return v

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        v = v.rstrip(".").lower()
        if not is_hostname(v):
            raise ValueError(f"{quoted(v)} is not a DNS hostname")
        return v

    def warnings(self) -> list[str]:
        """What this spec allows but a reviewer should hear: an RTO overrun or a same-region secondary that an
        `allow_*` field accepted. `FailoverService` logs them, so a stack file and a program warn alike."""
        found = []
        if self.rto_budget_seconds > self.rto_seconds:
            found.append(
                f"service '{self.name}': rto_seconds: {self.rto_overrun_message} (allowed by allow_rto_overrun)"
            )
        if (self.primary.cloud, self.primary.region) == (self.secondary.cloud, self.secondary.region):
            found.append(
                f"service '{self.name}': secondary: in the primary's provider and region, {self.primary.cloud.value} "
                f"{self.primary.region} (allowed by allow_same_region): one regional outage takes both"
            )
        return found

    @property
    def rto_budget_seconds(self) -> int:
        """Health-check detection plus the time resolvers may keep serving the old answer."""
        return self.health_check.detection_seconds + self.dns.ttl

    @model_validator(mode="after")
    def _cross_field(self) -> ServiceSpec:
        p, s = self.primary, self.secondary
        if (p.cloud, p.region) == (s.cloud, s.region) and not self.allow_same_region:
            raise ValueError(
                f"secondary: must differ from the primary in provider or region (both are {p.cloud.value} {p.region}; "
                "allow_same_region: true accepts it)"
            )
        for role, site in ((Role.PRIMARY, p), (Role.SECONDARY, s)):
            declared = plugins.site_kind(site.kind)
            if declared.refused is not None:
                raise ValueError(f"{role.value}.kind: {declared.refused}")
            declared.check(self, role)
        self._check_generated_dns_names()
        if self.data is not None:
            plugins.data_standby(self.data.kind).check(self)
        plugins.dns_backend(self.dns.kind).check(self)
        if self.rto_budget_seconds > self.rto_seconds and not self.allow_rto_overrun:
            raise ValueError(f"rto_seconds: {self.rto_overrun_message} (or set allow_rto_overrun: true)")
        return self

    def _check_generated_dns_names(self) -> None:
        """Records Bascule writes next to the hostname (ownership proofs, a site's own name) must be DNS names."""
        for role, site in (("primary", self.primary), ("secondary", self.secondary)):
            declared = plugins.site_kind(site.kind)
            prefix = declared.validation_prefix
            if len(self.hostname) + prefix > facts.DNS_NAME_MAX:
                raise ValueError(
                    f"hostname: at most {facts.DNS_NAME_MAX - prefix} characters when the {role} is kind '{site.kind}' "
                    f"(its ownership record adds {prefix} before it, and DNS names end at {facts.DNS_NAME_MAX})"
                )
            if declared.own_record:
                own = f"{self.name}-{role}.{self.dns.zone}"
                if len(own) > facts.DNS_NAME_MAX:
                    raise ValueError(
                        f"dns.zone: the {role} site's own record '{self.name}-{role}.<zone>' would be {len(own)} "
                        f"characters, over DNS's {facts.DNS_NAME_MAX}; use a shorter zone or service name"
                    )

    def check_in_zone(self, apex_refused_because: str | None) -> None:
        """The hostname must be in the DNS zone; backends that answer with a CNAME cannot use the apex (say why).

        For a DNS backend's rules (`DnsBackend.check`): raises ValueError("hostname: ...")."""
        zone = self.dns.zone
        if apex_refused_because is not None and self.hostname == zone:
            raise ValueError(
                f"hostname: '{self.hostname}' must be a name below the zone '{zone}' ({apex_refused_because})"
            )
        if self.hostname != zone and not self.hostname.endswith("." + zone):
            reason = f" ({apex_refused_because})" if apex_refused_because else ""
            raise ValueError(f"hostname: '{self.hostname}' must be a name below the zone '{zone}'{reason}")

    @property
    def rto_overrun_message(self) -> str:
        hc = self.health_check
        return (
            f"detection {hc.interval_seconds} s x {hc.failure_threshold} + TTL {self.dns.ttl} s = "
            f"{self.rto_budget_seconds} s exceeds the RTO target of {self.rto_seconds} s"
        )


class StackSpec(Model):
    services: tuple[ServiceSpec, ...] = Field(max_length=MAX_SERVICES_PER_STACK)

    @model_validator(mode="after")
    def _unique(self) -> StackSpec:
        seen: set[str] = set()
        hosts: set[str] = set()
        created_zones: set[str] = set()
        for svc in self.services:
            field = plugins.dns_backend(svc.dns.kind).creates_zone(svc.dns)
            if field is not None:
                if svc.dns.zone in created_zones:
                    raise ValueError(
                        f"service '{svc.name}': dns.{field}: zone '{svc.dns.zone}' is shared; create it once "
                        f"and give every service its {field} (two zones of one name would split the records)"
                    )
                created_zones.add(svc.dns.zone)
            if svc.name in seen:
                raise ValueError(f"service name '{svc.name}' is used twice")
            if svc.hostname in hosts:
                raise ValueError(f"hostname '{svc.hostname}' is used by two services")
            seen.add(svc.name)
            hosts.add(svc.hostname)
        return self

    def warnings(self) -> list[str]:
        return [warning for s in self.services for warning in s.warnings()]


class DrillHook(Model):
    """Stack config `bascule:drill`: which service a drill is breaking right now, and how.

    Set and cleared by `bascule drill --stack` around a `pulumi up`; the components change only what
    this fault needs, and only for this service.
    """

    service: str
    fault: DrillFault
    deadline: datetime | None = None
    """When the drill may be assumed dead and the stack restored by any scheduled job (the dead-man switch in
    `bascule.drills`); absent in markers an older Bascule set. The components ignore it."""

    def in_progress(self) -> str:
        """What a program run with this marker warns, so a forgotten marker shows in every `pulumi up`."""
        return f"drill in progress: fault '{self.fault.value}' injected into service '{self.service}'"

    def check_against(self, stack: StackSpec) -> None:
        svc = next((s for s in stack.services if s.name == self.service), None)
        if svc is None:
            names = ", ".join(s.name for s in stack.services)
            raise ValueError(f"service: no service '{self.service}' in this stack (it has: {names})")
        refused = fault_refused(self.fault, svc)
        if refused is not None:
            raise ValueError(f"fault: {refused}")


def fault_refused(fault: DrillFault, svc: ServiceSpec) -> str | None:
    """Why `fault` cannot be injected into `svc`, from its primary's declared levers (None: it can). The stack
    file's drill marker and a program's `FailoverServiceArgs.drill` are refused alike."""
    if fault is DrillFault.SWITCH:
        return None  # the DNS backend's own lever, whatever the sites
    declared = plugins.site_kind(svc.primary.kind)
    reason = declared.no_lever.get(fault)
    if reason is not None:
        kind = svc.primary.kind
        return f"'{fault.value}' cannot be injected into '{svc.name}' (its primary is kind '{kind}'): {reason}"
    if fault in declared.levers:
        return None
    able = {kind: d.levers[fault] for kind, d in plugins.SITE_KINDS.all().items() if fault in d.levers}
    kinds = " or ".join(able) or "no"
    article = "an" if kinds[0] in "aeiou" else "a"
    return (
        f"'{fault.value}' needs {article} {kinds} primary ({'; '.join(able.values())}); "
        f"the primary of '{svc.name}' is kind '{svc.primary.kind}': use fault 'switch'"
    )
