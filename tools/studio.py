"""Procedural product-photo backdrops from scene words: the embedded generator when no diffusion model runs.

Each family paints ONE continuous scene with depth (a horizon or a wall/floor line low in the frame, a floor
in perspective, soft key light and vignette, quiet texture) at a working resolution of at most ~640 px,
then upscales and adds fine grain at full size, so any size renders in tens of milliseconds. The same seed
gives the same pixels; words pick the family and modifiers (see `studio_scenes`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageChops
from scipy import ndimage

from productshot.errors import BadRequestError, PositionError
from productshot.tools import studio_indoor as _indoor
from productshot.tools import studio_outdoor as _outdoor
from productshot.tools import studio_paint as paint
from productshot.tools.anchors import ANCHOR_ALIGN
from productshot.tools.ground import VIEWS, Footprint, Ground, Light, View, surface_below
from productshot.tools.notes import Note
from productshot.tools.positions import parse_position
from productshot.tools.studio_paint import Array
from productshot.tools.studio_scenes import (
    FAMILIES,
    RGB,
    SceneMatch,
    colour_row,
    fallback_note,
    family_row,
    find_scene,
)

BACKEND = "studio"
MIN_SIDE = 64
MAX_SIDE = 8192
MAX_WORDS_CHARS = 2000
_WORK_LONG = 512  # working resolution: long side at most this ...
_WORK_SHORT = 200  # ... unless the short side would drop below this (very wide or tall canvases)
_SEED_LIMIT = 2**32


# The product's base stands at least this far (fraction of the height) inside the surface's far edge.
BASE_GAP = 0.05
# The floor line may rise this high (fraction of the height) to reach a product's base (a higher camera
# looking down at the table or the ground); a base higher still stands on a shelf drawn under it.
_LINE_MIN_INDOOR = 0.08
_LINE_MIN_OUTDOOR = 0.06
# Rows between the painted horizon/wall line and the surface a product stands on (sea before the sand).
_SURFACE_OFFSET: Mapping[str, float] = MappingProxyType({"beach": 0.12, "sea": 0.24})


@dataclass(frozen=True, eq=False)
class Backdrop:
    """A rendered backdrop, how it was made (family, seed, the words that chose it) and what it offers a
    product: `surface` (H×W bool, where a product may stand), the scene's `light` and the camera `view`."""

    image: Image.Image
    scene: str
    seed: int
    backend: str
    seconds: float
    matched: tuple[str, ...]
    modifiers: tuple[str, ...] = ()
    floor_y: int = 0  # top row of the surface under the product (or the floor's far edge without a footprint)
    surface: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    light: Light = field(default_factory=Light)
    view: View = "eye-level"
    pedestal: bool = False  # a shelf was drawn to carry a product standing high in the frame
    unmatched: tuple[str, ...] = ()  # scene words asked for that no family paints (`scene` is a fallback)
    notes: tuple[Note, ...] = ()

    @property
    def ground(self) -> Ground:
        """The surface, light and view as the compositor reads them."""
        return Ground(surface=self.surface, light=self.light, view=self.view, source="studio")


@dataclass(frozen=True)
class _Pedestal:
    """A shelf under a product that stands high in the frame (working pixels): its top face spans rows
    `back`..`front`, columns `cx ± half`; its front edge is `thickness` rows below that."""

    cx: float
    half: float
    back: float
    front: float
    thickness: float


@dataclass(frozen=True)
class _Layout:
    """Everything about a render that is decided before painting: look, frame, surface line and pedestal."""

    look: paint.Look
    frame: paint.Frame
    found: SceneMatch
    surface_top: float  # working rows: where the floor a product may stand on begins
    pedestal: _Pedestal | None
    light: Light
    view: View
    seed: int
    work_scale: float  # working resolution over full size


# ---------------------------------------------------------------------------------------------- arguments


def _check_side(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise BadRequestError(f"{name} must be an integer number of pixels, got {value!r}")
    if not MIN_SIDE <= int(value) <= MAX_SIDE:
        raise BadRequestError(f"{name} must be between {MIN_SIDE} and {MAX_SIDE} pixels, got {value}")
    return int(value)


def _check_words(scene_words: object) -> str:
    if not isinstance(scene_words, str):
        raise BadRequestError(f"scene_words must be text, got {type(scene_words).__name__}")
    if len(scene_words) > MAX_WORDS_CHARS:
        raise BadRequestError(
            f"scene_words is {len(scene_words)} characters long; keep it under {MAX_WORDS_CHARS}"
        )
    return scene_words


def _check_seed(seed: object) -> int:
    if seed is None:
        return secrets.randbelow(_SEED_LIMIT)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise BadRequestError(f"seed must be an integer or None, got {seed!r}")
    if not 0 <= int(seed) < _SEED_LIMIT:
        raise BadRequestError(f"seed must be between 0 and {_SEED_LIMIT - 1}, got {seed}")
    return int(seed)


def _light_spot(empty_region: object, width: int, height: int) -> tuple[float, float] | None:
    """Where the product will stand (fractions), from an anchor or exact position; None for the default."""
    if empty_region is None:
        return None
    if not isinstance(empty_region, str):
        raise BadRequestError(f"empty_region must be a position such as 'bottom-left', got {empty_region!r}")
    try:
        position = parse_position(empty_region)
        position.check_on_canvas(width, height)
    except PositionError as exc:
        raise BadRequestError(f"empty_region: {exc}") from exc
    if position.anchor is not None:
        ax, ay = ANCHOR_ALIGN[position.anchor]
        return 0.22 + 0.56 * ax, 0.62 + 0.22 * ay
    px, py = position.point_px(width, height)
    return px / width, py / height


# ------------------------------------------------------------------------------------------ public API


def scene_families() -> tuple[str, ...]:
    """The names of every scene family the studio generator paints."""
    return tuple(f.name for f in FAMILIES)


def match_scene(words: str) -> tuple[str, tuple[str, ...]]:
    """The family and modifiers (colours included) that English or Korean scene words pick."""
    found = find_scene(_check_words(words))
    return found.family, found.modifiers + found.colours


def render_backdrop(
    scene_words: str,
    width: int,
    height: int,
    *,
    seed: int | None = None,
    empty_region: str | None = None,
    footprint: Footprint | None = None,
    view: str | None = None,
) -> Backdrop:
    """Paint a backdrop for these scene words at exactly width×height.

    `footprint` is where the product's base will be (canvas pixels): the floor line moves up to carry it,
    or, where the floor cannot reach that high, a pedestal is drawn under it; the key light falls there.
    `empty_region` (an anchor or "x=0.3,y=0.8") only moves the key light. The result reports the surface
    a product may stand on, the light and the view.
    """
    started = time.perf_counter()
    layout = _layout(scene_words, width, height, seed, empty_region, footprint, view)
    look, frame = layout.look, layout.frame
    fw, fh = frame.w, frame.h
    painter = _paint_flat_lay if layout.view == "flat-lay" else _painter(look.family.name)
    painted, painted_top = painter(frame, look)
    layout = replace(layout, surface_top=painted_top)
    if layout.pedestal is not None:
        painted = _paint_pedestal(painted, frame, look, layout.pedestal)
    graded = _grade(_light(painted, frame, look), look)
    grain = frame.rng.standard_normal((fh, fw), dtype=np.float32)[..., None] * (1.2 if look.minimal else 1.8)
    small = Image.fromarray(np.clip(graded * 255.0 + grain + 0.5, 0, 255).astype(np.uint8), "RGB")
    image = small if (fw, fh) == (width, height) else small.resize((width, height), Image.Resampling.BICUBIC)
    if layout.work_scale < 0.5:  # large canvases: grain at full size too, so the upscaled set is not smeared
        image = _add_grain(image, frame.rng, 2)
    surface, top = _surface(layout, width, height, footprint)
    return Backdrop(
        image=image,
        scene=look.family.name,
        seed=layout.seed,
        backend=BACKEND,
        seconds=time.perf_counter() - started,
        matched=layout.found.words,
        modifiers=layout.found.modifiers + layout.found.colours,
        floor_y=top,
        surface=surface,
        light=layout.light,
        view=layout.view,
        pedestal=layout.pedestal is not None,
        unmatched=layout.found.unmatched,
        notes=tuple(n for n in (fallback_note(layout.found),) if n is not None),
    )


def studio_ground(
    scene_words: str,
    width: int,
    height: int,
    *,
    seed: int,
    footprint: Footprint | None = None,
    view: str | None = None,
) -> Ground:
    """The surface, light and view `render_backdrop` gives for these arguments, without painting when a
    footprint fixed the surface (cheap): what the pipeline reads when the studio rendered elsewhere (on the
    worker) or earlier (a follow-up)."""
    layout = _layout(scene_words, width, height, seed, None, footprint, view)
    if not layout.frame.surface_fixed and layout.look.family.name in _SURFACE_OFFSET:
        return render_backdrop(scene_words, width, height, seed=seed, footprint=footprint, view=view).ground
    surface, _ = _surface(layout, width, height, footprint)
    return Ground(surface=surface, light=layout.light, view=layout.view, source="studio")


def _layout(
    scene_words: str,
    width: int,
    height: int,
    seed: int | None,
    empty_region: str | None,
    footprint: Footprint | None,
    view: str | None,
) -> _Layout:
    words = _check_words(scene_words)
    width = _check_side("width", width)
    height = _check_side("height", height)
    seed = _check_seed(seed)
    if footprint is not None and not isinstance(footprint, Footprint):
        raise BadRequestError(f"footprint must be a Footprint, got {type(footprint).__name__}")
    if view is not None and view not in VIEWS:
        raise BadRequestError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    spot = _light_spot(empty_region, width, height)
    if spot is None and footprint is not None:
        spot = ((footprint.left + footprint.right) / 2 / width, footprint.base / height)
    found = find_scene(words)
    look = _resolve_look(found.family, found.modifiers, found.colours)
    rng = np.random.default_rng([seed, _stable_id(look.family.name)])
    scale = min(1.0, max(_WORK_LONG / max(width, height), _WORK_SHORT / min(width, height)))
    fw, fh = max(16, round(width * scale)), max(16, round(height * scale))
    frame = _make_frame(fw, fh, look, rng, spot)
    flat = view == "flat-lay" and look.family.name in _FLAT_LAY
    offset = _SURFACE_OFFSET.get(look.family.name, 0.0) * fh
    pedestal = None
    if flat:
        frame = replace(frame, line=0.0, surface_fixed=True)
    elif footprint is not None:
        # Light the product from its own side of the frame, as a photographer would: its shadow then
        # falls across the open part of the picture instead of out of the frame.
        centre = (footprint.left + footprint.right) / 2 / width
        if abs(centre - 0.5) > 0.08:
            frame = replace(frame, side=1.0 if centre > 0.5 else -1.0)
        base = footprint.base / height * fh
        wanted = base - BASE_GAP * fh - offset
        lowest = (_LINE_MIN_OUTDOOR if look.family.outdoor else _LINE_MIN_INDOOR) * fh
        if wanted >= lowest:
            frame = replace(frame, line=min(frame.line, wanted), surface_fixed=True)
        elif look.family.outdoor:  # no shelf in the open air: the ground rises as far as it can
            offset = max(min(offset, 0.03 * fh), base - BASE_GAP * fh - lowest)
            frame = replace(frame, line=lowest, surface_fixed=True, offset=offset)
        else:
            frame = replace(frame, surface_fixed=True)
            pedestal = _pedestal_for(footprint, width, height, fw, fh)
    light = _scene_light(look, frame)
    if flat:  # from above, the window light reaches the table higher than a key at eye level
        light = Light(light.azimuth, 55.0)
    return _Layout(
        look=look,
        frame=frame,
        found=found,
        surface_top=0.0 if flat else frame.line + offset,
        pedestal=pedestal,
        light=light,
        view="flat-lay" if flat else "eye-level",
        seed=seed,
        work_scale=scale,
    )


def _pedestal_for(footprint: Footprint, width: int, height: int, fw: int, fh: int) -> _Pedestal:
    """A shelf a little wider than the product's base, its top face around the base row."""
    sx, sy = fw / width, fh / height
    cx = (footprint.left + footprint.right) / 2 * sx
    half = min(0.48 * fw, max(0.08 * fw, 0.5 * (footprint.right - footprint.left) * sx * 1.12 + 0.03 * fw))
    depth = max(3.0, 0.035 * fh)
    base = footprint.base * sy
    return _Pedestal(
        cx=cx, half=half, back=base - 0.7 * depth, front=base + 0.3 * depth, thickness=max(2.0, 0.03 * fh)
    )


def _surface(layout: _Layout, width: int, height: int, footprint: Footprint | None) -> tuple[np.ndarray, int]:
    """The full-size surface mask and the top row of the surface under the product (or of the floor)."""
    sy, sx = height / layout.frame.h, width / layout.frame.w
    safety = 0.015 * layout.frame.h if layout.look.family.name == "beach" else 0.0  # the foam line wanders
    floor_top = (layout.surface_top + safety) * sy
    surface = surface_below(height, width, floor_top)
    top = floor_top
    ped = layout.pedestal
    if ped is not None:
        cols = (np.arange(width, dtype=np.float32) + 0.5) * (1.0 / sx)
        inside = np.abs(cols - ped.cx) <= ped.half * 0.98
        rows = (np.arange(height, dtype=np.float32) + 0.5) / sy
        face = (rows >= ped.back + 0.5)[:, None] & (rows <= ped.front)[:, None] & inside[None, :]
        edge = (rows > ped.front) & (rows <= ped.front + ped.thickness)
        front = edge[:, None] & (np.abs(cols - ped.cx) <= ped.half)[None, :]
        surface = (surface & ~front) | face
        top = (ped.back + 0.5) * sy
    return surface, min(height - 1, round(top))


def _scene_light(look: paint.Look, fr: paint.Frame) -> Light:
    """Where the painted light comes from: the side key indoors, the sun outdoors (low and behind at
    sunset, where the sun is drawn), soft and high at night."""
    side = fr.side
    if look.sunset and look.family.outdoor:
        off = max(-1.0, min(1.0, (fr.light_x - 0.5) * 2.0))
        azimuth = (180.0 - 60.0 * abs(off)) * (1.0 if off >= 0 else -1.0)
        return Light(azimuth, 14.0)
    if look.night:
        return Light(35.0 * side, 55.0)
    if look.family.outdoor:
        return Light(115.0 * side, 52.0)
    return Light(55.0 * side, 42.0)


# --------------------------------------------------------------------------------------- look and frame


def _stable_id(name: str) -> int:
    return sum((i + 1) * ord(ch) for i, ch in enumerate(name))


def _pastelise(c: RGB) -> RGB:
    grey = 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]
    soft = paint.mix(c, (grey, grey, grey), 0.25)
    return paint.mix(soft, (1.0, 1.0, 1.0), 0.45)


def _resolve_look(name: str, modifiers: tuple[str, ...], colours: tuple[str, ...]) -> paint.Look:
    """Colours and light switches for a family: colour words repaint what the family's row says
    (a plain set's wall and floor, a tabletop, a tiled wall, or a grade over an outdoor scene)."""
    fam = family_row(name)
    wall, floor, tint = fam.wall, fam.floor, None
    if colours:
        first = colour_row(colours[0]).rgb
        second = colour_row(colours[1]).rgb if len(colours) > 1 else first  # "pink and white": wall, floor
        if fam.tints == "set":
            wall = paint.mix(fam.wall, paint.mix(first, (0.0, 0.0, 0.0), 0.06), fam.tint_strength)
            floor = paint.mix(fam.floor, paint.mix(second, (1.0, 1.0, 1.0), 0.10), fam.tint_strength)
        elif fam.tints == "surface":
            floor = paint.mix(first, fam.floor, 1.0 - fam.tint_strength)
        elif fam.tints == "wall":
            wall = first
        else:
            tint = first
    pastel = "pastel" in modifiers
    if pastel:
        wall, floor = _pastelise(wall), _pastelise(floor)
    return paint.Look(
        family=fam,
        wall=wall,
        floor=floor,
        tint=tint,
        sunset="sunset" in modifiers,
        night="night" in modifiers,
        minimal="minimal" in modifiers,
        pastel=pastel,
        bright="bright" in modifiers,
    )


def _make_frame(
    w: int, h: int, look: paint.Look, rng: np.random.Generator, spot: tuple[float, float] | None
) -> paint.Frame:
    line = h * (look.family.line + rng.uniform(-0.025, 0.025))
    side = -1.0 if rng.random() < 0.5 else 1.0
    if spot is None:
        spot = (0.5 + rng.uniform(-0.12, 0.12), 0.80 + rng.uniform(-0.04, 0.04))
    return paint.Frame(
        w=w,
        h=h,
        line=float(line),
        light_x=float(spot[0]),
        light_y=float(spot[1]),
        side=side,
        detail=0.35 if look.minimal else 1.0,
        rng=rng,
    )


# ------------------------------------------------------------------------------------------- primitives


# ------------------------------------------------------------------------------------------------ skies


# --------------------------------------------------------------------------------------- indoor painters


def _paint_sweep(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A seamless paper or cloth sweep (or a crisp two-tone set for `pastel`), key light on the floor."""
    name = look.family.name
    ys = fr.rows()
    wall = paint.wall(fr, look.wall, 0.10)
    pl = paint.plane(fr, fr.line - 0.09 * fr.h, fr.line - 0.35 * fr.h)
    floor = paint.rgb(look.floor) * (1.0 - 0.05 * np.clip(pl.z - 1.0, 0, 1))[..., None]
    if name == "linen":
        weave = np.sin(pl.x * 420.0) * np.sin(pl.z * 420.0) * paint.fade(np.maximum(pl.dx, pl.dz), 1 / 67)
        wrinkles = paint.floor_noise(fr, pl, 2.0, [(3.0, 0.025), (9.0, 0.012)])
        floor = floor * (1.0 + (0.03 * weave + wrinkles) * fr.detail)[..., None]
        folds = paint.noise(fr.rng, fr.h, fr.w, 1.2, 6.0) * 0.06 * (1.1 - ys / fr.h)
        threads = paint.noise(fr.rng, fr.h, fr.w, fr.h / 2.0, fr.w / 2.0) * 0.012
        wall = wall * (1.0 + (folds + threads) * fr.detail)[..., None]
    else:
        paper = paint.floor_noise(fr, pl, 2.0, [(8.0, 0.004), (60.0, 0.004)])
        floor = floor * (1.0 + paper * fr.detail)[..., None]
    img = wall.copy()
    if name == "pastel":
        paint.paste(img, pl, floor, fr.line, 0.6)
        shadow = 1.0 - 0.05 * np.exp(-(((ys - fr.line) / (0.012 * fr.h)) ** 2)) * (ys < fr.line)
        img *= shadow[..., None]
    else:
        paint.paste(img, pl, floor, fr.line, 0.03 * fr.h)  # a soft cove, still read as where the floor starts
    return img, fr.line


def _paint_table(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A tabletop (marble, wood, kitchen counter, cafe table, concrete floor) against a softly lit wall."""
    name = look.family.name
    wall = paint.wall(fr, look.wall, 0.30 if name == "cafe" else 0.18)
    if name == "kitchen":
        wall = wall * _tiles(fr)
    elif name == "cafe":
        wall = paint.bokeh(fr, wall, (1.0, 0.78, 0.45), 0.40, fr.line * 0.85)
    elif name == "concrete":
        mottle = (
            paint.fbm(fr.rng, fr.h, fr.w, 3.0, 4.0, 4) * 0.08 + paint.noise(fr.rng, fr.h, fr.w, 60, 80) * 0.02
        )
        wall = wall * (1.0 + mottle * fr.detail)[..., None]
    else:
        wall = wall * paint.window_light(fr, 0.08)
    pl = paint.plane(fr, fr.line - 1, fr.line - 0.42 * fr.h)
    base = paint.rgb(look.floor)
    if name == "marble":
        floor = paint.marble(fr, pl, base)
    elif name == "concrete":
        mottle = paint.floor_noise(fr, pl, 3.0, [(5.0, 0.06), (20.0, 0.035), (90.0, 0.03)])
        floor = base * (1.0 + mottle * fr.detail)[..., None]
    elif name == "kitchen":
        quartz = paint.floor_noise(fr, pl, 2.0, [(4.0, 0.015), (110.0, 0.035)])
        floor = base * (1.0 + quartz * fr.detail)[..., None]
    else:
        floor = paint.wood(fr, pl, base, wide=name == "cafe")
    floor = floor * (1.0 - 0.08 * np.clip((pl.z - 1.0) / 1.5, 0, 1))[..., None]
    img = wall.copy()
    paint.paste(img, pl, floor, fr.line, 0.5)
    ys = fr.rows()
    contact = 1.0 - 0.10 * np.exp(-(((ys - fr.line) / (0.010 * fr.h)) ** 2)) * (ys < fr.line)
    rim = 1.0 + 0.04 * np.exp(-(((ys - fr.line - 0.004 * fr.h) / (0.004 * fr.h)) ** 2))
    img *= (contact * rim)[..., None]
    return img, fr.line


def _tiles(fr: paint.Frame) -> Array:
    """Subway tiles (2:1, half-offset rows): soft grout, a bevel and a per-tile tone, a little out of focus."""
    ys, xs = fr.rows(), fr.cols()
    tile_h = max(4.0, 0.055 * fr.unit)
    row = np.floor(ys / tile_h)
    u = xs / (2 * tile_h) + 0.5 * (row % 2)
    tone = fr.rng.uniform(-0.015, 0.015, 997).astype(np.float32)
    cell = (row * 131 + np.floor(u)).astype(np.int64) % 997
    gy = np.abs(ys / tile_h - np.round(ys / tile_h)) * tile_h
    gx = np.abs(u - np.round(u)) * 2 * tile_h
    grout = np.maximum(np.exp(-((gy / 0.9) ** 2)), np.exp(-((gx / 0.9) ** 2)))
    bevel = 0.02 * np.clip(np.sin(np.pi * (ys / tile_h - row)), 0, 1)
    shade = 1.0 + (tone[cell] + bevel - 0.09 * grout) * fr.detail
    return ndimage.gaussian_filter(shade.astype(np.float32), 0.8)[..., None]


def _paint_pedestal(img: Array, fr: paint.Frame, look: paint.Look, ped: _Pedestal) -> Array:
    """A shelf board in front of the set: a lit top face, a darker front edge with a bright bevel, and its
    soft shadow on what lies behind and below it, thrown away from the key light."""
    ys, xs = fr.rows(), fr.cols()
    colour = paint.rgb(paint.mix(look.floor, (0.90, 0.88, 0.85), 0.25)) * paint.ground_light(look)
    if float(colour.mean()) < 0.25:
        colour = colour * 1.25
    dx = (xs - ped.cx) / ped.half
    across = paint.smoothstep(1.0 + 1.0 / ped.half, 1.0 - 1.0 / ped.half, np.abs(dx))
    bottom = ped.front + ped.thickness
    # The board's shadow on the wall below it, offset away from the light and softening as it falls.
    fall = np.clip((ys - bottom) / (0.10 * fr.h), 0.0, None)
    shifted = (xs - ped.cx + fr.side * 0.03 * fr.w * np.minimum(fall, 1.0)) / (
        ped.half * (1.0 + 0.3 * np.minimum(fall, 1.0))
    )
    spread = paint.smoothstep(1.15, 0.85, np.abs(shifted))
    shade = 0.30 * np.exp(-fall * 2.2) * spread * (ys > bottom - 0.5)
    out = img * (1.0 - shade)[..., None]
    on_top = (
        across
        * paint.smoothstep(ped.back - 0.6, ped.back + 0.6, ys)
        * paint.smoothstep(ped.front + 0.6, ped.front - 0.6, ys)
    )
    on_edge = (
        across
        * paint.smoothstep(ped.front - 0.6, ped.front + 0.6, ys)
        * paint.smoothstep(bottom + 0.6, bottom - 0.6, ys)
    )
    lit_side = 0.03 * fr.side * dx
    texture = 1.0 + 0.015 * paint.noise(fr.rng, fr.h, fr.w, 20, 30)[..., None] * fr.detail
    top = colour * (1.07 + lit_side)[..., None]
    edge = colour * (0.80 + lit_side)[..., None]
    bevel = 1.0 + 0.12 * np.exp(-(((ys - ped.front - 0.6) / 0.8) ** 2))[..., None]
    out = out * (1.0 - on_top[..., None]) + top * texture * on_top[..., None]
    out = out * (1.0 - on_edge[..., None]) + edge * texture * bevel * on_edge[..., None]
    return out


def flat_lay_families() -> tuple[str, ...]:
    """The families that have a flat-lay (seen from straight above) variant."""
    return tuple(sorted(_FLAT_LAY))


def _paint_flat_lay(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """The family's surface seen from straight above: no horizon, no perspective, the whole frame is the
    surface (marble, wood, linen, paper, concrete, a counter), lit by soft window light from one side."""
    name = look.family.name
    span = 1.6  # world units across the frame's height
    ys = np.arange(fr.h, dtype=np.float32)[:, None] + 0.5
    per_px = span / fr.h
    xs = (fr.cols() - fr.w * 0.5) * per_px
    zs = ys * per_px + 4.0
    pl = paint.Plane(
        0, ys, np.broadcast_to(xs, (fr.h, fr.w)), zs, np.full_like(zs, per_px), np.full_like(zs, per_px)
    )
    base = paint.rgb(look.floor)
    if name == "marble":
        floor = paint.marble(fr, pl, base)
    elif name in ("wood", "cafe"):
        floor = paint.wood(fr, pl, base, wide=name == "cafe")
    elif name == "concrete":
        mottle = paint.floor_noise(fr, pl, 3.0, [(5.0, 0.06), (20.0, 0.035), (90.0, 0.03)])
        floor = base * (1.0 + mottle * fr.detail)[..., None]
    elif name == "kitchen":
        quartz = paint.floor_noise(fr, pl, 2.0, [(4.0, 0.015), (110.0, 0.035)])
        floor = base * (1.0 + quartz * fr.detail)[..., None]
    elif name == "linen":
        weave = np.sin(pl.x * 420.0) * np.sin(pl.z * 420.0) * paint.fade(np.maximum(pl.dx, pl.dz), 1 / 67)
        wrinkles = paint.floor_noise(fr, pl, 2.0, [(3.0, 0.03), (9.0, 0.015)])
        floor = base * (1.0 + (0.03 * weave + wrinkles) * fr.detail)[..., None]
    else:  # studio paper and coloured paper: fine fibres
        paper = paint.floor_noise(fr, pl, 2.0, [(8.0, 0.006), (60.0, 0.006)])
        floor = base * (1.0 + paper * fr.detail)[..., None]
    across = np.clip(
        0.5 - 0.5 * fr.side * (fr.cols() / fr.w - 0.5) * 2.0, 0.0, 1.0
    )  # brighter toward the light
    window = 1.0 + 0.06 * (across - 0.5) + 0.02 * (0.5 - ys / fr.h)
    return (floor * window[..., None]).astype(np.float32), 0.0


_FLAT_LAY = frozenset({"marble", "wood", "concrete", "kitchen", "cafe", "linen", "pastel", "studio"})


# -------------------------------------------------------------------------------------- outdoor painters


def _paint_beach(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Sky, the sea to the horizon, a foamy shoreline, then wet and dry sand with faint ripples."""
    rng = fr.rng
    horizon = fr.line
    img = paint.sky_gradient(fr, look, horizon)
    jitter = rng.uniform(-0.02, 0.02)  # drawn either way: the same seed keeps the same pixels elsewhere
    shore = horizon + (_SURFACE_OFFSET["beach"] + (0.0 if fr.surface_fixed else jitter)) * fr.h
    if fr.offset is not None:
        shore = horizon + fr.offset
    pl = paint.plane(fr, horizon, horizon - 0.012 * fr.h)
    sea = _sea(fr, look, pl, horizon, shore)
    edge = shore + paint.noise(rng, 1, fr.w, 1, 4)[0][None, :] * 0.015 * fr.h
    light = paint.ground_light(look)
    dry = paint.rgb(look.floor) * light
    wet = dry * paint.rgb((0.80, 0.79, 0.80))
    texture = paint.floor_noise(fr, pl, 2.0, [(4.0, 0.015), (40.0, 0.02)])
    ripple_warp = paint.floor_noise(fr, pl, 4.0, [(3.0, 2.5)])
    ripple = np.sin(pl.z * 40.0 + pl.x * 3.0 + ripple_warp) * paint.fade(pl.dz, 0.16) * 0.03
    grain = paint.speckle(fr, fr.h - pl.top, 0.03)
    wetness = paint.smoothstep(0.07 * fr.h, 0.0, pl.y - edge)[..., None]
    sand = (dry + (wet - dry) * wetness) * (1.0 + (texture + ripple + grain) * fr.detail)[..., None]
    lace = paint.noise(rng, 1, fr.w, 1, 18)[0][None, :]
    foam = np.exp(-(((pl.y - edge - 0.005 * fr.h) / (0.005 * fr.h)) ** 2)) * np.clip(0.55 + 0.5 * lace, 0, 1)
    sand += foam[..., None] * (paint.rgb((0.97, 0.97, 0.96)) * light - sand) * 0.85
    img_sea = img.copy()
    paint.paste(img_sea, pl, sea, horizon, 0.6)
    paint.paste(img_sea, pl, sand, edge, 1.2)
    return img_sea, float(shore)


def _sea(fr: paint.Frame, look: paint.Look, pl: paint.Plane, horizon: float, near: float) -> Array:
    """Open water in perspective, waves and glitter. By day it is deep blue at the horizon and lighter
    over the shallows; at dusk and night it mirrors the sky: brightest at the horizon, darker nearer."""
    t = np.clip((pl.y - horizon) / max(near - horizon, 1.0), 0, 1)[..., None]
    deep, shallow, glint = (
        paint.rgb((0.12, 0.36, 0.56)),
        paint.rgb((0.30, 0.64, 0.70)),
        paint.rgb((0.35, 0.35, 0.32)),
    )
    if look.night:
        deep, shallow, glint = (
            paint.rgb((0.10, 0.12, 0.21)),
            paint.rgb((0.03, 0.04, 0.09)),
            paint.rgb((0.20, 0.22, 0.28)),
        )
    elif look.sunset:
        deep, shallow, glint = (
            paint.rgb((0.86, 0.60, 0.44)),
            paint.rgb((0.34, 0.25, 0.36)),
            paint.rgb((0.60, 0.40, 0.18)),
        )
    waves = paint.floor_noise(fr, pl, 2.0, [(8.0, 0.07), (40.0, 0.05)], stretch=0.25)
    water = (deep + (shallow - deep) * t) * (1.0 + waves * fr.detail)[..., None]
    path = np.exp(-(((fr.cols() - fr.light_x * fr.w) / (0.10 * fr.w)) ** 2)) * np.exp(
        -(pl.y - horizon) / (0.15 * fr.h)
    )
    sparkle = np.clip(waves * 8.0 - 0.3, 0, None) * fr.detail
    return water + (path * (0.25 + sparkle))[..., None] * glint


def _paint_sea(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A sea view over a whitewashed stone ledge the product stands on."""
    horizon = fr.line
    img = paint.sky_gradient(fr, look, horizon)
    jitter = fr.rng.uniform(-0.02, 0.02)
    ledge = horizon + (_SURFACE_OFFSET["sea"] + (0.0 if fr.surface_fixed else jitter)) * fr.h
    if fr.offset is not None:
        ledge = horizon + fr.offset
    pl_sea = paint.plane(fr, horizon, horizon - 0.012 * fr.h)
    paint.paste(img, pl_sea, _sea(fr, look, pl_sea, horizon, ledge + 0.2 * fr.h), horizon, 0.6)
    pl = paint.plane(fr, ledge - 1, ledge - 0.45 * fr.h)
    plaster = paint.floor_noise(fr, pl, 2.0, [(5.0, 0.03), (60.0, 0.025)]) + paint.speckle(
        fr, fr.h - pl.top, 0.015
    )
    stone = paint.rgb(look.floor) * paint.ground_light(look) * (1.0 + plaster * fr.detail)[..., None]
    paint.paste(img, pl, stone, ledge, 0.5)
    rim = 1.0 + 0.06 * np.exp(-(((fr.rows() - ledge - 0.005 * fr.h) / (0.005 * fr.h)) ** 2))
    return img * rim[..., None], float(ledge)


def _paint_field(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Grass, snow or desert: sky, a soft distant ridge (treeline, mountains, dunes), ground in perspective."""
    name = look.family.name
    horizon = fr.line
    img = paint.sky_gradient(fr, look, horizon)
    light = paint.ground_light(look)
    haze_colour = img[max(0, int(horizon) - 1)].mean(axis=0)
    if name == "grass":
        ridge = paint.ridge_mask(fr, horizon, 0.05 * fr.h, 10, 0.9, bumps=0.35)
        crowns = 1.0 + 0.10 * paint.noise(fr.rng, fr.h, fr.w, 14, 60)[..., None] * fr.detail
        far = (paint.rgb((0.20, 0.32, 0.20)) * 0.7 + haze_colour * 0.3) * light * crowns
        img = img * (1 - ridge[..., None]) + far * ridge[..., None]
    elif name == "snow":
        ridge = paint.ridge_mask(fr, horizon, 0.13 * fr.h, 6, 0.7, bumps=0.15)
        far = paint.rgb(paint.mix((0.52, 0.60, 0.74), look.family.wall, 0.30)) * light
        img = img * (1 - 0.8 * ridge[..., None]) + far * 0.8 * ridge[..., None]
    else:
        ridge = paint.ridge_mask(fr, horizon, 0.06 * fr.h, 3, 1.5)
        far = paint.rgb((0.86, 0.66, 0.48)) * light
        img = img * (1 - 0.8 * ridge[..., None]) + far * 0.8 * ridge[..., None]
    pl = paint.plane(fr, horizon, horizon - 0.015 * fr.h)
    base = paint.rgb(look.floor) * light
    nearness = np.clip((pl.y - horizon) / (fr.h - horizon), 0, 1)
    if name == "grass":
        clumps = paint.floor_noise(fr, pl, 2.0, [(6.0, 0.06), (30.0, 0.08), (90.0, 0.10)])
        hue = paint.floor_noise(fr, pl, 4.0, [(3.0, 1.0)])[..., None] * paint.rgb((0.04, 0.025, -0.01))
        blades = paint.noise(fr.rng, fr.h - pl.top, fr.w, 12, fr.w / 3.0) * nearness * 0.07
        ground = (base + hue * fr.detail) * (1.0 + (clumps + blades) * fr.detail)[..., None]
        haze = paint.haze(pl, 0.45)
    elif name == "snow":
        drifts = paint.floor_noise(fr, pl, 4.0, [(3.0, 0.6), (12.0, 0.4)], stretch=0.6)
        shadow = np.clip(drifts, -1.5, 1.0)[..., None] * paint.rgb((-0.035, -0.02, 0.0))
        glitter = np.clip(paint.speckle(fr, fr.h - pl.top, 1.0) - 2.6, 0, None) * 0.5
        ground = base + (shadow + glitter[..., None]) * fr.detail
        haze = paint.haze(pl, 0.12)
    else:
        dunes = paint.floor_noise(fr, pl, 6.0, [(3.0, 0.09)], stretch=0.7)
        warp = paint.floor_noise(fr, pl, 4.0, [(4.0, 3.0)])
        ripple = np.sin(pl.z * 45.0 + pl.x * 6.0 + warp) * paint.fade(pl.dz, 0.14) * 0.035
        grain = paint.speckle(fr, fr.h - pl.top, 0.025)
        ground = base * (1.0 + (dunes + ripple + grain) * fr.detail)[..., None]
        haze = paint.haze(pl, 0.40)
    ground = ground * (1 - haze) + haze_colour * haze
    paint.paste(img, pl, ground, horizon, 0.8)
    return img, horizon


_FOREST_EDGE_REACH = 0.012  # how far the floor's far edge wanders above and below its line (share of h)
_FOREST_FOOT = 0.05  # how far below the horizon the nearest trunk stands on the floor (share of h)


def _paint_forest(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A forest clearing: out-of-focus trunks and leafy light behind, a mossy floor in front.

    The floor's far edge wanders, fades into the haze behind it, and the nearer trunks stand on it a little
    lower than the far ones: a level edge under trunks that all stop on it reads as two pictures joined.
    """
    horizon = fr.line
    ys = fr.rows()
    light = paint.ground_light(look)
    top = paint.mix(look.family.wall, (0.85, 0.92, 0.70), 0.55)
    canopy = paint.ramp(fr.h, [(0.0, top), (horizon, look.family.wall), (float(fr.h), look.family.wall)])
    leaves = paint.fbm(fr.rng, fr.h, fr.w, 5.0, 7.0, 3)
    img = canopy * light * (1.0 + 0.16 * leaves * fr.detail)[..., None]
    cover, bark, depth = _trunks(fr, look, 9)
    # Each trunk runs down to where it stands on the floor, nearer trunks lower (perspective).
    foot = horizon + _FOREST_FOOT * fr.h * depth**2
    stands = paint.smoothstep(0.01 * fr.h, -0.01 * fr.h, ys - foot[None, :])  # moss hides the very foot
    canopy_cover = 0.35 + 0.65 * paint.smoothstep(0.0, 0.45 * horizon, ys + 0.15 * horizon * leaves)
    texture = 1.0 + 0.06 * paint.noise(fr.rng, fr.h, fr.w, 3, fr.w / 6.0)[..., None]
    trunk = cover[None, :] * stands * canopy_cover * fr.detail
    img = img * (1.0 - trunk[..., None]) + bark[None, :, :] * texture * trunk[..., None]
    img = paint.bokeh(fr, img, (0.95, 1.0, 0.82), 0.18, horizon * 0.9)
    haze_colour = img[max(0, int(horizon) - 2)].mean(axis=0)
    pl = paint.plane(fr, horizon - _FOREST_EDGE_REACH * fr.h - 2, horizon - 0.10 * fr.h)
    moss = paint.floor_noise(fr, pl, 2.0, [(8.0, 0.08), (50.0, 0.10)])
    earth = (
        paint.smoothstep(0.2, 2.0, paint.floor_noise(fr, pl, 3.0, [(6.0, 1.0)]))[..., None] * 0.6 * fr.detail
    )
    soil = paint.rgb(paint.mix(look.floor, (0.40, 0.30, 0.20), 0.7))
    ground = (
        (paint.rgb(look.floor) + (soil - paint.rgb(look.floor)) * earth)
        * light
        * (1.0 + moss * fr.detail)[..., None]
    )
    haze = paint.haze(pl, 0.75)  # the far floor fades into the light behind the trees
    ground = ground * (1.0 - haze) + haze_colour * haze
    along = paint.noise(fr.rng, 1, fr.w, 1, 5)[0] + 0.5 * paint.noise(fr.rng, 1, fr.w, 1, 17)[0]
    edge = horizon + _FOREST_EDGE_REACH * fr.h * np.clip(along, -1.5, 1.5) / 1.5
    paint.paste(img, pl, ground, edge, 0.012 * fr.h, front=trunk)  # a trunk hides the floor behind it
    below = ys - foot[None, :]  # a soft contact shadow on the floor around each foot
    shadow = np.exp(-np.maximum(below, 0.0) / max(1.0, 0.012 * fr.h)) * paint.smoothstep(
        -0.012 * fr.h, 0.0, below
    )
    img = img * (1.0 - 0.45 * shadow * cover[None, :] * fr.detail)[..., None]
    return img, horizon


def _trunks(fr: paint.Frame, look: paint.Look, count: int) -> tuple[Array, Array, Array]:
    """Tree trunks across the frame, far (thin, pale) to near (wide, dark), rounded by side light.

    Returns per-column coverage (w,), colour (w, 3) and depth (w,: 0 far .. 1 near, of the trunk in front).
    """
    xs = fr.cols()[0]
    cover = np.zeros(fr.w, np.float32)
    colour = np.zeros((fr.w, 3), np.float32)
    near = np.zeros(fr.w, np.float32)
    light = paint.ground_light(look)
    for depth in np.sort(fr.rng.uniform(0.0, 1.0, count)):
        cx = fr.rng.uniform(0.0, 1.0) * fr.w
        half = (0.008 + 0.035 * depth) * fr.w
        offset = (xs - cx) / half
        alpha = paint.smoothstep(1.0 + 2.0 / half, 0.75, np.abs(offset)) * (0.45 + 0.5 * depth)
        round_light = 0.75 + 0.35 * np.clip(np.cos(np.clip(offset - 0.4 * fr.side, -1.5, 1.5) * 1.2), 0, 1)
        tone = paint.rgb(paint.mix((0.36, 0.40, 0.32), (0.12, 0.10, 0.08), float(depth))) * light
        shaded = tone[None, :] * round_light[:, None]
        colour = colour * (1.0 - alpha[:, None]) + shaded * alpha[:, None]
        near = near * (1.0 - alpha) + float(depth) * alpha
        cover = cover + (1.0 - cover) * alpha
    soft = max(0.6, fr.unit / 400)  # trunks stand behind the focus plane
    near = ndimage.gaussian_filter1d(near, soft) / np.maximum(ndimage.gaussian_filter1d(cover, soft), 1e-4)
    cover = ndimage.gaussian_filter1d(cover, soft)
    colour = ndimage.gaussian_filter1d(colour, soft, axis=0)
    return cover, colour / np.maximum(cover, 1e-4)[:, None], np.clip(near, 0.0, 1.0)


_PAINTERS: Mapping[str, Callable[[paint.Frame, paint.Look], tuple[Array, float]]] = MappingProxyType(
    {
        "studio": _paint_sweep,
        "linen": _paint_sweep,
        "pastel": _paint_sweep,
        "marble": _paint_table,
        "wood": _paint_table,
        "concrete": _paint_table,
        "kitchen": _paint_table,
        "cafe": _paint_table,
        "beach": _paint_beach,
        "sea": _paint_sea,
        "grass": _paint_field,
        "snow": _paint_field,
        "desert": _paint_field,
        "forest": _paint_forest,
    }
)


def _painter(name: str) -> Callable[[paint.Frame, paint.Look], tuple[Array, float]]:
    """The painter of a family: the table above, or the indoor or outdoor module's."""
    return _PAINTERS.get(name) or _indoor.INDOOR_PAINTERS.get(name) or _outdoor.OUTDOOR_PAINTERS[name]


# ---------------------------------------------------------------------------------------- light and grade


def _light(img: Array, fr: paint.Frame, look: paint.Look) -> Array:
    """Key-light pool where the product stands, a gentle side falloff and a soft vignette."""
    ys, xs = fr.rows() / fr.h, fr.cols() / fr.w
    pool = np.exp(-(((xs - fr.light_x) / 0.38) ** 2) - ((ys - fr.light_y) / 0.30) ** 2)
    gain = 1.0 + (0.07 if look.family.outdoor else 0.10) * pool
    if look.night:
        gain = (0.85 + 0.6 * pool) if look.family.outdoor else 0.42 * (1.0 + 1.0 * pool)
    side = 1.0 - 0.05 * (xs - 0.5 - 0.5 * fr.side) ** 2
    aspect = fr.w / fr.h
    rx = (xs - 0.5) * 2.0 * min(1.0, aspect) ** 0.5
    ry = (ys - 0.5) * 2.0 * min(1.0, 1.0 / aspect) ** 0.5
    vignette = 1.0 - (0.06 if look.minimal else 0.10) * np.clip(rx * rx + ry * ry, 0, 2) ** 1.5 / 2.0
    out = img * (gain * side * vignette)[..., None]
    if look.sunset and not look.family.outdoor:
        warm = np.clip(0.5 + 0.6 * fr.side * (xs - 0.5), 0, 1)[..., None]
        out = out * (1.0 + warm * paint.rgb((0.10, 0.0, -0.14))) * paint.rgb((1.03, 0.97, 0.90))
    return out


def _grade(img: Array, look: paint.Look) -> Array:
    """Whole-frame adjustments any family takes: night, bright, pastel and colour grades on outdoor sets."""
    if look.night and not look.family.outdoor:
        img = img * paint.rgb((0.92, 0.95, 1.05))
    if look.tint is not None:
        img = img * 0.85 + paint.rgb(look.tint) * img.mean(axis=-1, keepdims=True) * 0.25
    if look.bright:
        img = 1.0 - (1.0 - img) * 0.75
    if look.pastel and look.family.outdoor:
        img = 1.0 - (1.0 - img) * 0.7
    knee = 0.86  # a soft shoulder instead of clipping: lit white floors keep their texture
    return np.where(img > knee, knee + (1.0 - knee) * np.tanh((img - knee) / (1.0 - knee)), img)


def _add_grain(image: Image.Image, rng: np.random.Generator, spread: int) -> Image.Image:
    """Fine monochrome grain at full size: hides the 8-bit banding of the upscaled gradients."""
    noise = rng.integers(0, 2 * spread + 1, size=(image.height, image.width), dtype=np.uint8)
    band = Image.fromarray(noise, "L")
    return ImageChops.add(image, Image.merge("RGB", (band, band, band)), scale=1.0, offset=-spread)
