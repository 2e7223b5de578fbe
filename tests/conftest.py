from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from lc.config import SiteConfig, parse_config
from router import events as ev
from router.server import Router
from router.session import SessionSettings
from router.settings import RouterSettings
from tests.peers import Csms, GatedCsms

# No wall-clock limits on examples: on a shared machine they are timed asserts (speed belongs
# to the benchmarks); properties fail on what they state, not on how long an example took.
settings.register_profile(
    "no-wall-clock", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("no-wall-clock")


@pytest.fixture(autouse=True)
def state_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's LC state directory, as systemd's StateDirectory= gives it: a config that
    leaves a state path relative keeps it here, not in /var/lib/ocpp-lc or the working folder."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("STATE_DIRECTORY", str(folder))
    return folder


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    server = Csms()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def gated_csms() -> AsyncIterator[GatedCsms]:
    """A CSMS that holds every handshake until its `release` is set (then on teardown)."""
    server = GatedCsms()
    await server.start()
    yield server
    server.release.set()
    await server.stop()


class ObservedRouter(Router):
    """A Router that keeps every event it observed, in order."""

    def __init__(self, settings: RouterSettings) -> None:
        super().__init__(settings)
        self.observed: list[ev.Event] = []
        self.subscribe(self.observed.append)


RouterFactory = Callable[..., Coroutine[Any, Any, ObservedRouter]]


@pytest.fixture
async def make_router() -> AsyncIterator[RouterFactory]:
    """Start LC routers on 127.0.0.1 (any free port); each records the events it observed."""
    started: list[ObservedRouter] = []

    async def start(
        upstream_url: str, session: SessionSettings | None = None, **settings: Any
    ) -> ObservedRouter:
        router = ObservedRouter(
            RouterSettings(
                upstream_url=upstream_url,
                listen_host="127.0.0.1",
                listen_port=0,
                session=session or SessionSettings(),
                **settings,
            )
        )
        await router.start()
        started.append(router)
        return router

    yield start
    for router in started:
        await router.stop()


def lc_site_config(upstream_url: str, folder: Path, **sections: Any) -> SiteConfig:
    """A whole LC on 127.0.0.1 (any free ports), its journal in `folder`, plus `sections`."""
    router = {
        "upstream_url": upstream_url,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "offline": {"journal_path": str(folder / "journal.sqlite")},
    }
    metrics = {"listen_host": "127.0.0.1", "listen_port": 0}
    return parse_config({"router": router, "metrics": metrics, **sections})


def lc_url(router: Router) -> str:
    return f"ws://127.0.0.1:{router.port}"
