"""A catalogue run: many photos to listing images, resumable, reported, never half-written.

The input is a folder (every image under it, one preset) or a CSV with columns photo,request,preset
(UTF-8 with or without BOM, or CP949 as Korean Excel saves it; a row's preset wins over the default).
Outputs go to OUTDIR/PRESET/<the input's relative path>.jpg; two inputs that would share a name keep their
extension in it (and a CSV row number when even that repeats), so no product overwrites another's image.
A manifest (OUTDIR/.productshot-batch.json) records each output's input hash, preset-and-settings key
and output hash: a re-run skips what is unchanged, `force` redoes everything. Files are written atomically
and the manifest after every image, so an interrupted run leaves no partial file and resumes where it was.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from PIL import Image, ImageDraw, ImageOps

from productshot.errors import BadRequestError, NotFoundError, ProductshotError
from productshot.server.listings import CutFn, SceneFn, make_listing
from productshot.tools.imageio import IMAGE_SUFFIXES, decode_image_bytes, save_bytes_atomic, save_image_atomic
from productshot.tools.listing_presets import ListingPreset, get_preset

MANIFEST_NAME: Final = ".productshot-batch.json"
REPORT_NAME: Final = "report.json"
CONTACT_NAME: Final = "contact.jpg"
LAYOUT_VERSION: Final = 1  # bump when the listing layout or encoding changes, so a re-run redoes outputs
_THUMB: Final = 200

ProgressFn = Callable[[int, int, str, float | None], None]  # (done so far, total, current file, eta seconds)


@dataclass(frozen=True)
class BatchJob:
    """One listing image to make: which photo (and how the report names it), preset, request, output."""

    source: Path
    label: str
    preset: ListingPreset
    request: str | None
    output: Path
    row: int | None = None


@dataclass
class BatchReport:
    """What a run did; `to_summary` is what the CLI prints, `to_dict` what report.json holds."""

    done: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    needs_review: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    report_path: str | None = None
    contact_path: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    def to_summary(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": list(self.failed),
            "needs_review": list(self.needs_review),
            "outputs": list(self.outputs),
            "report": self.report_path,
            "contact_sheet": self.contact_path,
            "interrupted": self.interrupted,
            "backend": "listing-batch",
            "seconds": round(self.seconds, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_summary(), "items": list(self.items)}


# ---- planning the jobs ------------------------------------------------------------------------------------


def plan_jobs(
    input_path: Path, outdir: Path, default_preset: str | None
) -> tuple[list[BatchJob], list[dict[str, str]]]:
    """The jobs of a folder or CSV, and the rows that cannot become jobs (as failed {file, error})."""
    source = input_path.expanduser()
    if not source.exists():
        raise NotFoundError(f"input {str(input_path)!r} does not exist")
    if source.is_dir():
        if default_preset is None:
            raise BadRequestError("--preset is required when the input is a folder")
        preset = get_preset(default_preset)
        if preset.needs_request:
            raise BadRequestError(
                f"preset {preset.name!r} needs a request per photo: give a CSV with columns photo,request,preset"
            )
        raw = [
            (path, path.relative_to(source).as_posix(), preset, None, None)
            for path in _images(source, outdir)
        ]
        return _name_outputs(raw, outdir), []
    if source.suffix.lower() != ".csv":
        raise BadRequestError(f"input {str(input_path)!r} must be a folder of photos or a .csv file")
    default = get_preset(default_preset) if default_preset is not None else None
    rows, failed = _csv_rows(source, default)
    return _name_outputs(rows, outdir), failed


def _images(folder: Path, outdir: Path) -> list[Path]:
    skip = outdir.resolve()
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and skip not in path.resolve().parents:
            found.append(path)
    return found


def read_csv_text(path: Path) -> str:
    """The CSV's text: UTF-8 (a BOM is dropped) or, failing that, CP949 as Korean Excel writes it."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp949")
    except UnicodeDecodeError as exc:
        raise BadRequestError(
            f"CSV {str(path)!r} is neither UTF-8 nor CP949 text (byte {exc.start}); save it as CSV UTF-8"
        ) from None


RawJob = tuple[Path, str, ListingPreset, str | None, int | None]


def _csv_rows(path: Path, default: ListingPreset | None) -> tuple[list[RawJob], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(read_csv_text(path), newline=""))
    header = {name.strip().lower(): name for name in (reader.fieldnames or []) if name}
    if "photo" not in header:
        raise BadRequestError(
            f"CSV {str(path)!r} needs a header row with a 'photo' column (and optionally request, preset); "
            f"found: {', '.join(header) or 'no header'}"
        )
    rows: list[RawJob] = []
    failed: list[dict[str, str]] = []
    for number, record in enumerate(reader, start=2):  # row 1 is the header

        def cell(column: str, record: dict[str, Any] = record) -> str:
            return str(record.get(header.get(column, ""), "") or "").strip()

        photo, request, preset_name = cell("photo"), cell("request"), cell("preset")
        label = photo or f"row {number}"
        if not photo:
            if any(cell(c) for c in header):
                failed.append({"file": label, "error": f"row {number}: the photo column is empty"})
            continue
        try:
            preset = get_preset(preset_name) if preset_name else default
            if preset is None:
                raise BadRequestError(f"row {number}: no preset in the CSV row and no --preset given")
            if preset.needs_request and not request:
                raise BadRequestError(
                    f"row {number}: preset {preset.name!r} makes a scene shot and needs a request"
                )
        except BadRequestError as exc:
            failed.append({"file": label, "error": str(exc)})
            continue
        target = Path(photo).expanduser()
        rows.append(
            (target if target.is_absolute() else path.parent / target, label, preset, request or None, number)
        )
    return rows, failed


def _name_outputs(raw: Iterable[RawJob], outdir: Path) -> list[BatchJob]:
    """Output paths from input names; inputs that would collide keep their extension, then a row number,
    then (never needed by a folder or a sane CSV) a short hash of their name."""
    items = list(raw)

    def base(item: RawJob, level: int) -> str:
        _, label, preset, _, row = item
        rel = Path(label.replace("\\", "/"))
        parts = [
            p for p in rel.with_suffix("").parts if p not in ("", ".", "..", "/") and not p.endswith(":")
        ]
        stem = "/".join(parts) or "photo"
        if level >= 1 and rel.suffix:
            stem += "-" + rel.suffix.lower().lstrip(".")
        if level >= 2 and row is not None:
            stem += f"-row{row}"
        if level >= 3:
            stem += "-" + hashlib.sha256(f"{label}|{row}".encode()).hexdigest()[:8]
        return f"{preset.name}/{stem}.jpg"

    levels = [0] * len(items)
    for level in (1, 2, 3):
        names = [base(item, levels[i]).lower() for i, item in enumerate(items)]  # case-insensitive disks too
        counts: dict[str, int] = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        for i, name in enumerate(names):
            if counts[name] > 1:
                levels[i] = level
    return [
        BatchJob(source, label, preset, request, outdir / base(items[i], levels[i]), row)
        for i, (source, label, preset, request, row) in enumerate(items)
    ]


# ---- the manifest -----------------------------------------------------------------------------------------


def settings_key(job: BatchJob, *, cutout_model: str, shadow: bool | None) -> str:
    """A hash of everything besides the input that decides the output."""
    body = {
        "preset": job.preset.to_dict(),
        "request": job.request,
        "cutout_model": cutout_model,
        "shadow": shadow,
        "layout": LAYOUT_VERSION,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Manifest:
    """OUTDIR's record of finished outputs (relative output path → hashes), saved atomically."""

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / MANIFEST_NAME
        self.entries: dict[str, dict[str, str]] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.entries = {str(k): dict(v) for k, v in data.get("entries", {}).items()}
            except (ValueError, AttributeError, TypeError):
                self.entries = {}  # unreadable: every output is redone (and the manifest rewritten)

    def unchanged(self, key: str, input_sha: str, settings: str, output: Path) -> bool:
        entry = self.entries.get(key)
        if not entry or entry.get("input") != input_sha or entry.get("settings") != settings:
            return False
        try:
            return _sha256(output.read_bytes()) == entry.get("output")
        except OSError:
            return False

    def record(self, key: str, input_sha: str, settings: str, output_sha: str) -> None:
        self.entries[key] = {"input": input_sha, "settings": settings, "output": output_sha}
        self.save()

    def forget(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self.save()

    def save(self) -> None:
        body = {"version": 1, "entries": self.entries}
        save_bytes_atomic(json.dumps(body, indent=1, sort_keys=True).encode(), self.path)


# ---- running ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOptions:
    force: bool = False
    shadow: bool | None = None
    cutout_model: str = "u2netp"
    max_pixels: int = 100_000_000
    contact_sheet: bool = True


def run_batch(
    input_path: Path,
    outdir: Path,
    *,
    default_preset: str | None,
    cut: Callable[[], CutFn],
    scene: Callable[[], SceneFn] | None = None,
    options: BatchOptions | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchReport:
    """Make every job's listing image; `cut` and `scene` build their models on first use, once per run."""
    opts = options or BatchOptions()
    started = time.perf_counter()
    outdir = outdir.expanduser()
    if outdir.exists() and not outdir.is_dir():
        raise BadRequestError(f"output folder {str(outdir)!r} is a file")
    jobs, failed = plan_jobs(input_path, outdir, default_preset)
    outdir.mkdir(parents=True, exist_ok=True)
    report = BatchReport(failed=list(failed))
    manifest = Manifest(outdir)
    tools: dict[str, Any] = {}
    worked, work_seconds = 0, 0.0
    try:
        for index, job in enumerate(jobs):
            if on_progress is not None:
                remaining = len(jobs) - index
                eta = work_seconds / worked * remaining if worked else None
                on_progress(index, len(jobs), job.label, eta)
            t0 = time.perf_counter()
            status = _run_job(job, outdir, manifest, opts, report, tools, cut, scene)
            if status == "done":
                worked += 1
                work_seconds += time.perf_counter() - t0
        if on_progress is not None:
            on_progress(len(jobs), len(jobs), "", 0.0)
    except KeyboardInterrupt:
        report.interrupted = True
        report.seconds = time.perf_counter() - started
        _write_report(report, outdir)
        raise
    if opts.contact_sheet and report.outputs:
        report.contact_path = str(write_contact_sheet(report, outdir / CONTACT_NAME))
    report.seconds = time.perf_counter() - started
    _write_report(report, outdir)
    return report


def _run_job(
    job: BatchJob,
    outdir: Path,
    manifest: Manifest,
    opts: BatchOptions,
    report: BatchReport,
    tools: dict[str, Any],
    cut: Callable[[], CutFn],
    scene: Callable[[], SceneFn] | None,
) -> str:
    key = job.output.relative_to(outdir).as_posix()
    item: dict[str, Any] = {"file": job.label, "preset": job.preset.name, "output": str(job.output)}
    try:
        data = job.source.read_bytes()
    except FileNotFoundError:
        return _fail(report, item, f"photo {job.label!r} does not exist")
    except OSError as exc:
        return _fail(report, item, f"photo {job.label!r} cannot be read: {exc.strerror or exc}")
    input_sha = _sha256(data)
    settings = settings_key(job, cutout_model=opts.cutout_model, shadow=opts.shadow)
    if not opts.force and manifest.unchanged(key, input_sha, settings, job.output):
        report.skipped += 1
        report.outputs.append(str(job.output))
        report.items.append({**item, "status": "skipped"})
        return "skipped"
    started = time.perf_counter()
    try:
        photo = decode_image_bytes(data, max_pixels=opts.max_pixels).image
        if job.preset.needs_request:
            if scene is None:
                raise BadRequestError(f"preset {job.preset.name!r} needs the scene pipeline")
            if "scene" not in tools:
                tools["scene"] = scene()
            outcome = make_listing(photo, job.preset, scene=tools["scene"], request=job.request)
        else:
            if "cut" not in tools:
                # The cutout session: loaded once, on the first photo that needs it; a photo listed for
                # several presets (CSV rows) is cut out once.
                tools["cut"] = _ReusedCut(cut())
            outcome = make_listing(
                photo, job.preset, cut=tools["cut"].for_input(input_sha), shadow=opts.shadow
            )
    except ProductshotError as exc:
        manifest.forget(key)
        return _fail(report, item, str(exc).replace("'<bytes>'", repr(job.label)))
    save_bytes_atomic(outcome.data, job.output)
    item.update(
        status="done" if outcome.check.ok else "failed",
        ok=outcome.check.ok,
        quality=outcome.quality,
        bytes=len(outcome.data),
        upscale=round(outcome.upscale, 3) if outcome.upscale is not None else None,
        confidence=outcome.confidence,
        needs_review=list(outcome.review),
        failed_rules=[r.to_dict() for r in outcome.check.failed],
        notes=outcome.notes_json(),
        seconds=round(time.perf_counter() - started, 3),
    )
    if outcome.review:
        report.needs_review.append(
            {"file": job.label, "output": str(job.output), "reasons": list(outcome.review)}
        )
    if not outcome.check.ok:
        broken = ", ".join(
            f"{r.name} (measured {r.measured}, required {r.required})" for r in outcome.check.failed
        )
        manifest.forget(key)
        report.failed.append(
            {"file": job.label, "error": f"written but does not pass {job.preset.name}: {broken}"}
        )
        report.items.append(item)
        return "failed"
    manifest.record(key, input_sha, settings, _sha256(outcome.data))
    report.done += 1
    report.outputs.append(str(job.output))
    report.items.append(item)
    return "done"


class _ReusedCut:
    """A cutout function that remembers its last few results by input hash."""

    def __init__(self, cut: CutFn, keep: int = 4) -> None:
        self._cut = cut
        self._keep = keep
        self._recent: dict[str, Any] = {}

    def for_input(self, input_sha: str) -> CutFn:
        def cut(photo: Image.Image) -> Any:
            if input_sha not in self._recent:
                if len(self._recent) >= self._keep:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[input_sha] = self._cut(photo)
            return self._recent[input_sha]

        return cut


def _fail(report: BatchReport, item: dict[str, Any], error: str) -> str:
    report.failed.append({"file": item["file"], "error": error})
    report.items.append({**item, "status": "failed", "error": error})
    return "failed"


def _write_report(report: BatchReport, outdir: Path) -> None:
    path = outdir / REPORT_NAME
    report.report_path = str(path)
    save_bytes_atomic(json.dumps(report.to_dict(), indent=1, ensure_ascii=False).encode("utf-8"), path)


def write_contact_sheet(report: BatchReport, path: Path, *, columns: int = 6) -> Path:
    """A grid of every output's thumbnail with its name; outputs that need review get a red frame."""
    review = {entry["output"] for entry in report.needs_review}
    outputs = report.outputs
    rows = -(-len(outputs) // columns)
    cell_w, cell_h = _THUMB + 16, _THUMB + 34
    sheet = Image.new("RGB", (columns * cell_w, max(1, rows) * cell_h), (228, 228, 228))
    draw = ImageDraw.Draw(sheet)
    for i, output in enumerate(outputs):
        x, y = (i % columns) * cell_w + 8, (i // columns) * cell_h + 8
        with Image.open(output) as image:
            image.draft("RGB", (_THUMB, _THUMB))  # JPEG: decode at a reduced size, fast for big files
            thumb = ImageOps.contain(image.convert("RGB"), (_THUMB, _THUMB))
        sheet.paste(thumb, (x + (_THUMB - thumb.width) // 2, y + (_THUMB - thumb.height) // 2))
        if output in review:
            draw.rectangle((x - 4, y - 4, x + _THUMB + 3, y + _THUMB + 3), outline=(210, 30, 30), width=3)
        name = (
            Path(output).relative_to(path.parent).as_posix()
            if path.parent in Path(output).parents
            else output
        )
        # Numbered like report.json's `outputs`, so a name in a script the font lacks can still be found.
        draw.text((x, y + _THUMB + 6), f"{i + 1}. {_fit(name, 28)}", fill=(20, 20, 20))
    return save_image_atomic(sheet, path)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


__all__ = [
    "CONTACT_NAME",
    "IMAGE_SUFFIXES",
    "MANIFEST_NAME",
    "REPORT_NAME",
    "BatchJob",
    "BatchOptions",
    "BatchReport",
    "Manifest",
    "plan_jobs",
    "read_csv_text",
    "run_batch",
    "settings_key",
    "write_contact_sheet",
]
