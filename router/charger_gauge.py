"""A gauge with one series per charger whose exposition lines are kept rendered.

With thousands of chargers connected, building and formatting one sample per charger at every
`/metrics` read held the event loop for tens of milliseconds, and every charger's frames waited.
Here a charger's line is rendered by prometheus_client itself at the first read after its value
changed (a link comes or goes: rare; a connect storm renders none until the next read), and a
read joins the kept lines (see `exposition`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample


class RenderedGaugeFamily(GaugeMetricFamily):
    """A gauge family that carries its exposition text, identical to what generate_latest
    renders from its samples."""

    def __init__(self, name: str, documentation: str, text: bytes) -> None:
        super().__init__(name, documentation, labels=["charger"])
        self.text = text


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _render(family: Metric) -> bytes:
    return generate_latest(_Families([family]))


def exposition(registries: Iterable[CollectorRegistry]) -> bytes:
    """generate_latest of each registry, joined; a rendered family's text is taken as is."""
    parts = []
    for registry in registries:
        for family in registry.collect():
            if isinstance(family, RenderedGaugeFamily):
                parts.append(family.text)
            else:
                parts.append(_render(family))
    return b"".join(parts)


class ChargerGauge:
    """A gauge labelled `charger`: one series per charger identity."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self._name = name
        self._documentation = documentation
        self._header = _render(self._family())
        self._samples: dict[str, Sample] = {}
        self._lines: dict[str, bytes | None] = {}  # None: rendered at the next read
        registry.register(self)

    def set(self, identity: str, value: float) -> None:
        sample = self._samples.get(identity)
        if sample is not None and sample.value == value:
            return
        self._samples[identity] = Sample(self._name, {"charger": identity}, float(value))
        self._lines[identity] = None

    def remove(self, identity: str) -> None:
        """Drop the charger's series (none is fine: a charger may go before it had one)."""
        self._samples.pop(identity, None)
        self._lines.pop(identity, None)

    def value(self, identity: str) -> float | None:
        sample = self._samples.get(identity)
        return None if sample is None else sample.value

    def collect(self) -> Iterator[Metric]:
        text = self._header + b"".join(self._line(identity) for identity in self._lines)
        family = RenderedGaugeFamily(self._name, self._documentation, text)
        family.samples = list(self._samples.values())
        yield family

    def _line(self, identity: str) -> bytes:
        line = self._lines[identity]
        if line is None:
            family = self._family()
            family.samples = [self._samples[identity]]
            line = self._lines[identity] = _render(family)[len(self._header) :]
        return line

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self._name, self._documentation, labels=["charger"])
