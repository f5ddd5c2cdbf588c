"""`productshot store list|show|gc|stats|check|repair|jobs`: look into, clean up and repair the asset store.

The store package imports only the standard library at import time (Pillow is loaded inside the calls
that encode images), so registering these commands keeps `productshot --help` fast.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from productshot.cli.output import add_json_flag, emit
from productshot.store.models import ASSET_KINDS, JOB_STATUSES

if TYPE_CHECKING:
    from productshot.settings import Settings
    from productshot.store import Asset

BACKEND = "store"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a number of days, got {text!r}") from exc
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of days >= 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `store` command group."""
    parser = subparsers.add_parser(
        "store",
        help="list, inspect and clean up stored images",
        description="Every image productshot takes in or makes is an asset in the store under the data home.",
    )
    actions = parser.add_subparsers(dest="store_command", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="the newest assets first")
    listing.add_argument("--kind", choices=ASSET_KINDS, help="only assets of this kind")
    listing.add_argument("--limit", type=_positive_int, default=50, help="at most this many (default 50)")
    add_json_flag(listing)
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", help="one asset with its lineage (the assets it was made from)")
    show.add_argument("id", metavar="ID", help="an asset id, e.g. a01jd5k2m8q3xyz7f")
    add_json_flag(show)
    show.set_defaults(handler=run_show)

    gc = actions.add_parser(
        "gc",
        help="delete old assets and unreferenced files",
        description="Delete assets older than DAYS (keeping every ancestor of a newer asset) and the files "
        "no remaining asset uses.",
    )
    gc.add_argument("--older-than", type=_days, required=True, metavar="DAYS", help="age in days, e.g. 30")
    gc.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    add_json_flag(gc)
    gc.set_defaults(handler=run_gc)

    stats = actions.add_parser("stats", help="counts by kind and bytes on disk")
    add_json_flag(stats)
    stats.set_defaults(handler=run_stats)

    jobs = actions.add_parser(
        "jobs", help="model jobs (cutouts, backgrounds), newest first, with how they ended"
    )
    jobs.add_argument("--status", choices=JOB_STATUSES, help="only jobs in this state")
    jobs.add_argument("--limit", type=_positive_int, default=50, help="at most this many (default 50)")
    add_json_flag(jobs)
    jobs.set_defaults(handler=run_jobs)

    check = actions.add_parser(
        "check",
        help="look for problems: a damaged database, rows whose file is gone, files no row names",
        description="Inspect the store without changing it; exits 1 when it finds a problem.",
    )
    add_json_flag(check)
    check.set_defaults(handler=run_check)

    repair = actions.add_parser(
        "repair",
        help="salvage a damaged database into a new one (nothing is deleted)",
        description="Read every readable row of a damaged database into a new one, rename the damaged file "
        "to productshot.sqlite3.damaged-<time>, and register image files no surviving row names as "
        "kind=recovered. Stop other productshot processes (worker, MCP server, bot) first.",
    )
    add_json_flag(repair)
    repair.set_defaults(handler=run_repair)


# ---- formatting ------------------------------------------------------------------------------------
def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def _file_missing(asset: Asset) -> bool:
    return not asset.path.is_file()


def _flagged(asset: Asset) -> dict[str, Any]:
    """The asset as JSON, with `file_missing` telling a row whose image file is gone."""
    return {**asset.to_dict(), "file_missing": _file_missing(asset)}


def _table(assets: list[Asset], now: float) -> str:
    header = ("ID", "KIND", "SIZE", "BACKEND", "AGE", "PARENTS")
    rows = [
        (
            asset.id + (" (FILE MISSING)" if _file_missing(asset) else ""),
            asset.kind,
            f"{asset.width}x{asset.height}",
            asset.backend,
            _age(now - asset.created),
            ",".join(asset.parents) or "-",
        )
        for asset in assets
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def _elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 4)


# ---- handlers --------------------------------------------------------------------------------------
def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.store import AssetStore

    started = time.perf_counter()
    with AssetStore.open(settings) as store:
        assets = store.list(kind=args.kind, limit=args.limit)
    missing = sum(_file_missing(asset) for asset in assets)
    payload: dict[str, Any] = {
        "assets": [_flagged(asset) for asset in assets],
        "count": len(assets),
        "missing_files": missing,
        "backend": BACKEND,
        "seconds": _elapsed(started),
    }
    what = f"{args.kind} assets" if args.kind else "assets"
    if assets:
        summary = f"{_table(assets, time.time())}\n{len(assets)} {what} (newest first) in {settings.home}"
        if missing:
            summary += f"\n{missing} of them have lost their image file; run `productshot store check`"
    else:
        summary = f"no {what} in {settings.home}"
    emit(args, payload, summary)
    return 0


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.store import AssetStore

    started = time.perf_counter()
    with AssetStore.open(settings) as store:
        lineage = store.lineage(args.id)
        children = store.children(args.id)
    asset = lineage[0]
    payload: dict[str, Any] = {
        "asset": _flagged(asset),
        "lineage": [_flagged(item) for item in lineage],
        "children": [child.id for child in children],
        "backend": BACKEND,
        "seconds": _elapsed(started),
    }
    created = datetime.fromtimestamp(asset.created).astimezone().isoformat(timespec="seconds")
    lines = [
        f"{asset.id}  {asset.kind}  {asset.width}x{asset.height} {asset.format}  {_bytes(asset.size_bytes)}",
        f"  backend  {asset.backend}",
        f"  created  {created}",
        f"  path     {asset.path}"
        + ("  (FILE MISSING: run `productshot store check`)" if _file_missing(asset) else ""),
        f"  params   {json.dumps(asset.params, ensure_ascii=False, sort_keys=True)}",
        f"  parents  {', '.join(asset.parents) or '-'}",
        f"  children {', '.join(payload['children']) or '-'}",
    ]
    if len(lineage) > 1:
        lines.append("  lineage:")
        lines.extend(
            f"    {item.id}  {item.kind:<10}  {item.backend}"
            + ("  (file missing)" if _file_missing(item) else "")
            for item in lineage[1:]
        )
    emit(args, payload, "\n".join(lines))
    return 0


def run_gc(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.store import AssetStore

    started = time.perf_counter()
    with AssetStore.open(settings) as store:
        report = store.gc(args.older_than, dry_run=args.dry_run)
    payload: dict[str, Any] = {**report.to_dict(), "backend": BACKEND, "seconds": _elapsed(started)}
    verb = "would remove" if report.dry_run else "removed"
    summary = (
        f"{'dry run: ' if report.dry_run else ''}{verb} {report.assets_removed} assets older than "
        f"{args.older_than:g} days and {report.files_removed} files, {_bytes(report.bytes_freed)}"
    )
    emit(args, payload, summary)
    return 0


def run_stats(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.store import AssetStore

    started = time.perf_counter()
    with AssetStore.open(settings) as store:
        stats = store.stats()
    payload: dict[str, Any] = {**stats, "backend": BACKEND, "seconds": _elapsed(started)}
    kinds = ", ".join(f"{count} {kind}" for kind, count in stats["by_kind"].items() if count) or "none"
    summary = (
        f"{stats['assets']} assets ({kinds}) in {stats['home']}\n"
        f"{stats['files']} files, {_bytes(stats['bytes_on_disk'])} on disk; "
        f"database {_bytes(stats['database_bytes'])}"
    )
    if stats["missing_files"]:
        summary += (
            f"\n{stats['missing_files']} assets have lost their image file; run `productshot store check`"
        )
    emit(args, payload, summary)
    return 0


def run_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.store import AssetStore

    started = time.perf_counter()
    with AssetStore.open(settings) as store:
        store.mark_abandoned_jobs()
        jobs = store.list_jobs(limit=args.limit, status=args.status)
    payload: dict[str, Any] = {
        "jobs": jobs,
        "count": len(jobs),
        "backend": BACKEND,
        "seconds": _elapsed(started),
    }
    now = time.time()
    lines = []
    for job in jobs:
        took = f"{job['seconds']:.2f}s" if job["seconds"] is not None else "-"
        made = ",".join(job["assets"]) or "-"
        model = job["params"].get("model", "")
        line = f"{job['id']}  {job['kind']:<8}  {job['status']:<9}  {model:<12}  {took:>8}  {_age(now - job['created']):>4} ago  {made}"
        if job["error"]:
            line += f"\n    {job['error']}"
        lines.append(line)
    what = f"{args.status} jobs" if args.status else "jobs"
    summary = (
        "\n".join([*lines, f"{len(jobs)} {what} (newest first) in {settings.home}"])
        if jobs
        else f"no {what} in {settings.home}"
    )
    emit(args, payload, summary)
    return 0


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.store.repair import check_store

    started = time.perf_counter()
    report = check_store(settings.home)
    payload: dict[str, Any] = {**report.to_dict(), "backend": BACKEND, "seconds": _elapsed(started)}
    lines = [f"store {report.home}: database {report.database}"]
    if report.assets is not None:
        lines[0] += f", {report.assets} assets"
    lines += [f"  problem: {problem}" for problem in report.problems]
    if report.orphan_files:
        lines.append(f"  {len(report.orphan_files)} image files are named by no asset (gc removes old ones)")
    if report.database == "damaged":
        lines.append("  fix: stop other productshot processes, then run `productshot store repair`")
    elif report.missing_files:
        lines.append("  those assets cannot be followed up; make them again from the original photo")
    lines.append("no problems found" if report.ok else f"{len(report.problems)} problems found")
    emit(args, payload, "\n".join(lines))
    return 0 if report.ok else 1


def run_repair(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.store.repair import repair_store

    started = time.perf_counter()
    report = repair_store(settings.home)
    payload: dict[str, Any] = {**report.to_dict(), "backend": BACKEND, "seconds": _elapsed(started)}
    if not report.repaired:
        lines = [f"store {report.home}: {'; '.join(report.lost) or 'no database yet, nothing to repair'}"]
    else:
        lines = [
            f"store {report.home}: rebuilt from the damaged database",
            f"  kept    {report.salvaged_assets} assets and {report.salvaged_jobs} jobs",
            f"  moved   the damaged file to {report.damaged_copy} (kept, not deleted)",
            f"  files   {len(report.recovered_files)} orphan image files registered as kind=recovered",
        ]
        lines += [f"  lost    {sentence}" for sentence in report.lost]
        if report.skipped_files:
            lines.append(f"  left    {len(report.skipped_files)} unreadable files in place")
    if report.missing_files:
        lines.append(
            f"  {len(report.missing_files)} kept assets have no image file (flagged in `store list`)"
        )
    emit(args, payload, "\n".join(lines))
    return 0
