"""The worker's HTTP API on Ray Serve: one ingress replica in front of generator and cutout replicas.

The ingress (0 CPU, exactly one replica) runs the worker's own FastAPI app, guard, job table and scheduler,
so routes, schemas, progress, cancel, errors, token and Host rules are those of the local worker and job
state lives in one place. Its runners do not compute: they send each job to a model replica through a
DeploymentHandle. The generator deployment groups concurrent jobs with `@serve.batch` and splits the group
by the worker's batch key (same model, size, steps: a batch never changes a job's pixels), and keeps models
per replica with `@serve.multiplexed` (an LRU limit from settings). Replicas run the worker's own runners
(see ray_replicas.py). Only `productshot worker --engine ray` imports this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, Literal, cast

import ray
from ray import serve
from ray.exceptions import RayActorError, RayError

from productshot.errors import ProductshotError, WorkerUnavailableError
from productshot.models.devices import free_memory, is_out_of_memory, pick_device
from productshot.models.registry import ModelPreset, Registry
from productshot.server.worker.config import WorkerConfig
from productshot.server.worker.cutout_jobs import CutoutRunner, CutoutTask
from productshot.server.worker.generate_jobs import GenerateRunner, GenerateTask
from productshot.server.worker.metrics import WorkerMetrics
from productshot.server.worker.models_cache import ModelCache
from productshot.server.worker.ray_options import RayOptions, parse_autoscale
from productshot.server.worker.ray_replicas import JobBoard, RemoteItem, RemoteOutcome, ReplicaExecutor
from productshot.server.worker.runtime import WorkerRuntime, default_memory_budget
from productshot.server.worker.scheduler import BatchControl, QueuedJob
from productshot.server.worker.schemas import HealthInfo, ReplicaInfo
from productshot.settings import Settings

log = logging.getLogger(__name__)

SERVE_NAMESPACE = "serve"  # where Ray Serve names its replica actors
POLL_S = 0.2  # how often the ingress mirrors progress and stop flags while a replica works
STOP_WAIT_S = 30.0  # after a stop, how long a replica gets to notice before its request is cancelled
REPLICA_RETRIES = 1  # a job whose replica died is sent once more (to a live or replacement replica)


class ReplicaLostError(WorkerUnavailableError):
    """The replica running a job died (node lost, process killed) and the retry failed too."""

    code = "replica_lost"


class ClusterTooSmallError(ProductshotError):
    """The Ray cluster cannot place the replicas asked for (not enough CPUs/GPUs)."""

    code = "cluster_too_small"


class RemoteJobError(ProductshotError):
    """A job failed on a replica; it keeps the replica's error code (out_of_memory, model_unavailable...)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


# ---- replicas ------------------------------------------------------------------------------------------
def _replica_id() -> str:
    return str(serve.get_replica_context().replica_id.to_full_id_str())


def _node_id() -> str:
    return str(ray.get_runtime_context().get_node_id())[:12]


class _ReplicaBase:
    """What both model deployments hold: the worker's device, model cache and metrics, and the board."""

    kind: Literal["generator", "cutout"] = "generator"

    def __init__(self, settings: Settings, board: Any) -> None:
        self.settings = settings
        self.board = board
        self.replica = _replica_id()
        self.device = pick_device()
        self.metrics = WorkerMetrics()
        self.cache = ModelCache(
            default_memory_budget(self.device),
            metrics=self.metrics,
            is_out_of_memory=is_out_of_memory,
            release_memory=lambda: free_memory(self.device),
        )
        ray.get(board.register.remote(self.replica, self.kind, self.device, _node_id(), os.getpid()))

    def _report_models(self) -> None:
        self.board.loaded.remote(self.replica, [model.name for model in self.cache.loaded()])

    def __del__(self) -> None:
        try:
            self.board.unregister.remote(self.replica)
        except Exception:  # the board may be gone already at shutdown; nothing else to tell
            log.debug("could not unregister replica %s", getattr(self, "replica", "?"))


class _LoadedModel:
    """A generator held by the multiplexer; evicting it (LRU) unloads it from the replica's model cache."""

    def __init__(self, cache: ModelCache, name: str) -> None:
        self._cache = cache
        self.name = name

    def __del__(self) -> None:
        self._cache.unload("generator", self.name)


def generator_deployment(options: RayOptions, config: WorkerConfig) -> Any:
    """The generator deployment class, with the batch and multiplex limits of these options."""

    @serve.deployment(
        ray_actor_options=options.actor_options(),
        max_ongoing_requests=max(2, config.max_batch * 2),
        **options.scaling(config.max_batch),
    )
    class Generator(_ReplicaBase):
        kind: Literal["generator", "cutout"] = "generator"

        def __init__(self, settings: Settings, board: Any) -> None:
            super().__init__(settings, board)
            registry = Registry.default(settings)
            self.runner = GenerateRunner(
                self.cache, settings, registry=registry, device=self.device, metrics=self.metrics
            )
            self.executor = ReplicaExecutor(self.runner, board, replica=self.replica, job_type="generate")
            self.presets: dict[str, ModelPreset] = {}

        @serve.multiplexed(max_num_models_per_replica=options.models_per_replica)
        async def get_model(self, model_id: str) -> _LoadedModel:
            preset = self.presets[model_id]
            await asyncio.to_thread(self.runner.load, preset)
            return _LoadedModel(self.cache, model_id)

        @serve.batch(max_batch_size=config.max_batch, batch_wait_timeout_s=options.batch_wait_s)
        async def generate(self, items: list[RemoteItem]) -> list[RemoteOutcome]:
            outcomes: dict[str, RemoteOutcome] = {}
            groups: dict[Any, list[RemoteItem]] = {}
            for item in items:
                assert isinstance(item.task, GenerateTask)
                groups.setdefault(item.task.batch_key, []).append(item)
            for group in groups.values():
                task = group[0].task
                assert isinstance(task, GenerateTask)
                self.presets[task.preset.name] = task.preset
                try:
                    await self.get_model(task.preset.name)
                except Exception as exc:  # a model that cannot load fails its jobs, named, not the replica
                    for item in group:
                        outcomes[item.job_id] = _failed(item, self.replica, exc)
                    continue
                for outcome in await asyncio.to_thread(self.executor.run, group):
                    outcomes[outcome.job_id] = outcome
            self._report_models()
            return [outcomes[item.job_id] for item in items]

    return Generator


@serve.deployment
class Cutout(_ReplicaBase):
    """Cutout replicas: one photo per call with the worker's CutoutRunner and a cached rembg session."""

    kind: Literal["generator", "cutout"] = "cutout"

    def __init__(self, settings: Settings, board: Any) -> None:
        super().__init__(settings, board)
        self.executor = ReplicaExecutor(
            CutoutRunner(self.cache, settings), board, replica=self.replica, job_type="cutout"
        )

    async def cut(self, item: RemoteItem) -> RemoteOutcome:
        [outcome] = await asyncio.to_thread(self.executor.run, [item])
        self._report_models()
        return outcome


def _failed(item: RemoteItem, replica: str, exc: BaseException) -> RemoteOutcome:
    from productshot.server.worker.jobs import error_body

    return RemoteOutcome(item.job_id, replica, error=error_body(exc))


# ---- the ingress ---------------------------------------------------------------------------------------
class RemoteRunner:
    """A TaskRunner for the ingress's scheduler: sends each job to a replica and mirrors its progress."""

    def __init__(self, handle: Any, method: str, board: Any, *, multiplexed: bool) -> None:
        self._handle = handle
        self._method = method
        self._board = board
        self._multiplexed = multiplexed

    def _send(self, job: QueuedJob, steps_total: int) -> Any:
        task = job.task
        assert isinstance(task, GenerateTask | CutoutTask)
        handle = self._handle
        if self._multiplexed and isinstance(task, GenerateTask):
            handle = handle.options(multiplexed_model_id=task.preset.name)
        item = RemoteItem(job.id, task, steps_total)
        return getattr(handle, self._method).remote(item)

    def run_batch(self, jobs: Sequence[QueuedJob], control: BatchControl) -> None:
        control.begin()
        steps = {job.id: _steps_of(job) for job in jobs}
        pending: dict[str, tuple[QueuedJob, Any, int, float | None]] = {
            job.id: (job, self._send(job, steps[job.id]), REPLICA_RETRIES, None) for job in jobs
        }
        try:
            while pending:
                wait = POLL_S / len(pending)
                for job_id, (job, response, retries, _) in list(pending.items()):
                    try:
                        outcome: RemoteOutcome = response.result(timeout_s=wait)
                    except TimeoutError:
                        continue
                    except RayActorError as exc:
                        del pending[job_id]
                        if retries > 0 and control.subset([job]).live():
                            log.warning("replica died running job %s (%s); sending it again", job_id, exc)
                            pending[job_id] = (job, self._send(job, steps[job_id]), retries - 1, None)
                        else:
                            control.fail(job, _lost(job_id, exc))
                        continue
                    except RayError as exc:
                        del pending[job_id]
                        control.fail(job, WorkerUnavailableError(f"Ray failed job {job_id}: {exc}"))
                        continue
                    del pending[job_id]
                    _record(control, job, outcome)
                self._mirror(control, pending)
        finally:
            self._board.forget.remote(list(steps))

    def _mirror(
        self, control: BatchControl, pending: dict[str, tuple[QueuedJob, Any, int, float | None]]
    ) -> None:
        """Copy replica progress into the job table, and flag stops for jobs the table ended meanwhile."""
        if not pending:
            return
        progress: dict[str, tuple[int, int, str]] = ray.get(self._board.progress.remote(list(pending)))
        now = time.monotonic()
        for job_id, (job, response, retries, stopped_at) in list(pending.items()):
            single = control.subset([job])
            if job_id in progress:
                step, steps, replica = progress[job_id]
                single.on_step(step, steps, replica=replica)
            if single.live():
                continue
            if stopped_at is None:
                self._board.stop.remote([job_id])
                pending[job_id] = (job, response, retries, now)
            elif now - stopped_at > STOP_WAIT_S:
                log.warning(
                    "replica did not stop job %s within %.0f s; dropping its request", job_id, STOP_WAIT_S
                )
                response.cancel()
                del pending[job_id]


def _steps_of(job: QueuedJob) -> int:
    task = job.task
    return max(1, task.spec.steps or 1) if isinstance(task, GenerateTask) else 1


def _lost(job_id: str, exc: BaseException) -> ReplicaLostError:
    return ReplicaLostError(
        f"the replica running job {job_id} died ({type(exc).__name__}) and the retry was lost too; "
        "submit the job again"
    )


def _record(control: BatchControl, job: QueuedJob, outcome: RemoteOutcome) -> None:
    if outcome.output is not None:
        control.finish(job, outcome.output)
        return
    error = outcome.error
    if error is None:
        control.fail(
            job, RemoteJobError("the replica answered neither an image nor an error", code="worker_error")
        )
    elif error.error == "cancelled" and not control.subset([job]).live():
        return  # the ingress ended it (cancel or timeout) and already recorded why
    else:
        control.fail(job, RemoteJobError(error.message, code=error.error))


class RayRuntime(WorkerRuntime):
    """The worker runtime of the ingress: remote runners, and health that lists the replicas."""

    engine: Literal["local", "ray"] = "ray"

    def __init__(
        self,
        settings: Settings,
        config: WorkerConfig,
        *,
        board: Any,
        generator: Any,
        cutout: Any,
        executors: int,
    ) -> None:
        self.board = board
        runners = {
            "generate": RemoteRunner(generator, "generate", board, multiplexed=True),
            "cutout": RemoteRunner(cutout, "cut", board, multiplexed=False),
        }
        super().__init__(settings, config, runners=runners, executors=executors)

    def replica_infos(self) -> list[ReplicaInfo]:
        """The replicas that registered and are still alive, with the models each holds."""
        rows: list[dict[str, Any]] = ray.get(self.board.replicas.remote(), timeout=10)
        alive: list[ReplicaInfo] = []
        for row in rows:
            try:
                ray.get_actor(row["replica"], namespace=SERVE_NAMESPACE)
            except ValueError:
                self.board.unregister.remote(row["replica"])
                continue
            alive.append(ReplicaInfo.model_validate(row))
        return alive

    def health(self) -> HealthInfo:
        base = super().health()
        replicas = self.replica_infos()
        kinds = {row.kind for row in replicas}
        ready = {"generator", "cutout"} <= kinds
        status = base.status if base.status == "stopping" or ready else "starting"
        loaded = sorted({name for row in replicas for name in row.loaded_models})
        devices = sorted({row.device for row in replicas})
        return base.model_copy(
            update={
                "status": status,
                "replicas": replicas,
                "loaded_models": loaded,
                "device": ",".join(devices) or base.device,
            }
        )


@serve.ingress()
class Ingress:
    """The one ingress replica: the worker's FastAPI app over a RayRuntime."""

    def __init__(
        self,
        settings: Settings,
        config: WorkerConfig,
        board: Any,
        generator: Any,
        cutout: Any,
        executors: int,
    ) -> None:
        self._runtime = RayRuntime(
            settings, config, board=board, generator=generator, cutout=cutout, executors=executors
        )
        self._settings = settings
        self._config = config

    def __serve_build_asgi_app__(self) -> Any:
        from productshot.server.worker.app import create_app

        return create_app(self._settings, config=self._config, runtime=self._runtime)


def build_application(settings: Settings, config: WorkerConfig, options: RayOptions, board: Any) -> Any:
    """The Serve application: ingress (0 CPU, 1 replica) bound to the generator and cutout deployments."""
    ingress_config = _ingress_config(config)
    generator = generator_deployment(options, config).bind(settings, board)
    cutout = (
        cast(Any, Cutout)
        .options(ray_actor_options=options.actor_options(), max_ongoing_requests=4, **options.scaling(1))
        .bind(settings, board)
    )
    executors = 2 * options.max_replicas * (config.max_batch + 1)  # generate and cutout calls in flight
    ingress = cast(Any, serve.deployment)(Ingress).options(
        num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=10_000
    )
    return ingress.bind(settings, ingress_config, board, generator, cutout, executors)


def _ingress_config(config: WorkerConfig) -> WorkerConfig:
    """The ingress batches nothing itself (max_batch 1): @serve.batch on the replicas groups jobs."""
    from dataclasses import replace

    return replace(config, max_batch=1, preload=(), idle_timeout_s=None)


def required_resources(options: RayOptions) -> dict[str, float]:
    """What the minimum replica count asks of the cluster (generator and cutout replicas alike)."""
    replicas = 2 * options.min_replicas
    return {"CPU": replicas * options.replica_cpus, "GPU": replicas * options.replica_gpus}


def check_capacity(options: RayOptions, available: dict[str, float]) -> None:
    """ClusterTooSmallError when the cluster's free CPUs/GPUs cannot hold the minimum replicas."""
    needed = required_resources(options)
    short = {k: v for k, v in needed.items() if v > 0 and available.get(k, 0.0) + 1e-9 < v}
    if short:
        detail = ", ".join(f"{v:g} {k} (free: {available.get(k, 0.0):g})" for k, v in short.items())
        raise ClusterTooSmallError(
            f"the Ray cluster cannot place {options.min_replicas} generator and {options.min_replicas} cutout "
            f"replica(s) at {options.replica_cpus:g} CPU / {options.replica_gpus:g} GPU each: they need {detail}; "
            "use fewer --replicas, smaller PRODUCTSHOT_RAY_REPLICA_CPUS/GPUS (fractions work), or a bigger cluster"
        )


def board_actor() -> Any:
    """A fresh JobBoard actor that asks for no CPU."""
    return ray.remote(num_cpus=0)(JobBoard).remote()


__all__ = [
    "ClusterTooSmallError",
    "RayOptions",
    "RayRuntime",
    "RemoteJobError",
    "ReplicaLostError",
    "board_actor",
    "build_application",
    "check_capacity",
    "parse_autoscale",
    "required_resources",
]
