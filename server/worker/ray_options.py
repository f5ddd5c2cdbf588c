"""How the Ray engine runs (`worker --engine ray` flags and settings), kept free of Ray imports so the
launcher can hold its port before loading Ray."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RayOptions:
    """How the Ray engine runs: replicas (fixed or autoscaled), cluster address, per-replica resources."""

    replicas: int = 1
    autoscale: tuple[int, int] | None = None
    address: str | None = None  # None: start a local Ray in this process
    local_cpus: int | None = None  # CPUs of a local Ray (None: all of them)
    replica_cpus: float = 1.0
    replica_gpus: float = 0.0
    models_per_replica: int = 2
    batch_wait_s: float = 0.05
    app_name: str = "productshot"
    temp_dir: str | None = None
    # Autoscaling only: Serve's delays before adding/removing a replica, and the window load is averaged over.
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0
    autoscale_window_s: float = 30.0

    def __post_init__(self) -> None:
        from productshot.errors import BadRequestError

        if self.replicas < 1:
            raise BadRequestError(f"--replicas must be at least 1, got {self.replicas}")
        if self.autoscale is not None and not 0 < self.autoscale[0] <= self.autoscale[1]:
            raise BadRequestError(f"--autoscale MIN:MAX needs 1 <= MIN <= MAX, got {self.autoscale}")
        if self.replica_cpus < 0 or self.replica_gpus < 0:
            raise BadRequestError("replica CPUs and GPUs must be 0 or more")
        if self.models_per_replica < 1:
            raise BadRequestError(f"models per replica must be at least 1, got {self.models_per_replica}")
        if self.upscale_delay_s < 0 or self.downscale_delay_s < 0 or self.autoscale_window_s <= 0:
            raise BadRequestError(
                "autoscaling delays must be 0 or more and its window more than 0 "
                "(PRODUCTSHOT_RAY_UPSCALE_DELAY_S, _DOWNSCALE_DELAY_S, _AUTOSCALE_WINDOW_S)"
            )

    @property
    def min_replicas(self) -> int:
        return self.autoscale[0] if self.autoscale else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.autoscale[1] if self.autoscale else self.replicas

    def scaling(self, max_batch: int) -> dict[str, Any]:
        """Deployment options for the replica count: fixed, or an autoscaling range."""
        if self.autoscale is None:
            return {"num_replicas": self.replicas}
        low, high = self.autoscale
        return {
            "autoscaling_config": {
                "min_replicas": low,
                "max_replicas": high,
                "target_ongoing_requests": max(1, max_batch),
                "upscale_delay_s": self.upscale_delay_s,
                "downscale_delay_s": self.downscale_delay_s,
                "look_back_period_s": self.autoscale_window_s,
                # Load is sampled often enough to fill the window (Serve's default: every 10 s).
                "metrics_interval_s": min(10.0, self.autoscale_window_s / 2),
            }
        }

    def actor_options(self) -> dict[str, Any]:
        return {"num_cpus": self.replica_cpus, "num_gpus": self.replica_gpus}


def parse_autoscale(text: str) -> tuple[int, int]:
    """`MIN:MAX` as two integers; BadRequestError otherwise."""
    from productshot.errors import BadRequestError

    low, sep, high = text.partition(":")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise BadRequestError(f"--autoscale takes MIN:MAX replicas, e.g. 1:4; got {text!r}")
    return int(low), int(high)


__all__ = ["RayOptions", "parse_autoscale"]
