"""The 'scaleway' site kind: parsed so that a stack naming it gets the reason it is refused."""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bascule.facts import Cloud
from bascule.spec.base import Image, SiteSpecBase
from bascule.spec.plugins import SiteKind


class ScalewaySiteSpec(SiteSpecBase):
    """Scaleway Serverless Containers: parsed so that a stack naming it gets the reason it is refused.

    `ServiceSpec` refuses it in either role: the container's custom domain is certified by HTTP-01 only after
    Scaleway checks that the hostname points at the container (scaleway/docs-content#3593), which a failover
    hostname pointing at the other site never does.
    """

    kind: Literal["scaleway"] = "scaleway"
    region: str
    image: Image
    project_id: str | None = None
    container_port: int = Field(default=8080, ge=1, le=65535)
    cpu_limit: int = Field(default=1000, ge=70, le=6000)
    """mVCPU."""
    memory_limit: int = Field(default=2048, ge=128, le=12288)
    """MB."""
    min_scale: int = Field(default=1, ge=1, le=100)
    max_scale: int = Field(default=3, ge=1, le=100)

    @property
    def cloud(self) -> Cloud:
        return Cloud.SCALEWAY

    @model_validator(mode="after")
    def _scale(self) -> ScalewaySiteSpec:
        if self.max_scale < self.min_scale:
            raise ValueError(f"max_scale ({self.max_scale}) is below min_scale ({self.min_scale})")
        return self


SITE = SiteKind(
    kind="scaleway",
    spec=ScalewaySiteSpec,
    component=None,
    extra=None,
    cloud=Cloud.SCALEWAY,
    certificate="HTTP-01 only, after Scaleway checks the hostname points at the container: never, for a failover site",
    refused=(
        "Scaleway Serverless Containers get a custom domain's certificate only by HTTP-01 after checking that the "
        "hostname's CNAME points at the container (scaleway/docs-content#3593), so a site the hostname does not "
        "point at never serves it; use an 'endpoint' site for a Scaleway front end you run with your own "
        "certificate, or a 'gcp' site"
    ),
)
