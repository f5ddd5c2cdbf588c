"""Read a Prometheus exposition the way a scraper does: prometheus_client's own parser, not regexes."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by its full name (`..._total`, `..._bucket`): (labels, value) pairs; ValueError if malformed."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    """The one sample of `name` whose labels are exactly `labels`; None when there is none."""
    for sample_labels, sample_value in scrape(text).get(name, []):
        if sample_labels == labels:
            return sample_value
    return None


def total(text: str, name: str, **labels: str) -> float:
    """The sum of `name` over every sample whose labels include `labels` (0 when none match)."""
    return sum(
        sample_value
        for sample_labels, sample_value in scrape(text).get(name, [])
        if all(sample_labels.get(key) == wanted for key, wanted in labels.items())
    )


__all__ = ["scrape", "total", "value"]
