"""The frozen cutout render set: synthetic product photos with their exact alpha, for scoring cutouts.

Six kinds of product a cutout finds hard (glossy, metallic, dark on a dark backdrop with ΔL* ≤ 10, white on
white, holed, thin), five of each, on white, grey, gradient, dark and textured backdrops. Each shape is
drawn at 4× and box-downsampled (true anti-aliased edges); a few are also slightly out of focus. Plain
backdrops get the product's own soft floor shadow, which the ground truth never counts as product. The
photo gets sensor noise and is saved as JPEG quality 85, like a seller's upload.

Run ``python -m tests.support.cutout_renders`` to rebuild ``tests/data/cutout_renders/`` (committed: the set
was frozen before the cutout was tuned; the test suite reads the files, it never regenerates them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from tests.support.imagegen import skimage_data_file

SIZE = 384
SUPERSAMPLE = 4
KINDS = ("glossy", "metallic", "dark", "white", "holed", "thin")
RENDER_DIR = Path(__file__).resolve().parents[1] / "data" / "cutout_renders"

Shape = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x, y) in 0..1 → inside mask
Paint = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (x, y, rng) → RGB float


@dataclass(frozen=True)
class Render:
    """One photo of the set: its name, kind, backdrop, and the files it is stored in."""

    name: str
    kind: str
    backdrop: str
    photo: Path
    alpha: Path

    def load(self) -> tuple[Image.Image, np.ndarray]:
        """(RGB photo, true alpha as uint8)."""
        with Image.open(self.photo) as photo, Image.open(self.alpha) as alpha:
            return photo.convert("RGB"), np.asarray(alpha.convert("L"))


def load_render_set(folder: Path = RENDER_DIR) -> list[Render]:
    """Every render listed in ``folder/index.json``, in a fixed order."""
    index = json.loads((folder / "index.json").read_text())
    return [
        Render(row["name"], row["kind"], row["backdrop"], folder / row["photo"], folder / row["alpha"])
        for row in index
    ]


# ---- shapes (x, y in 0..1 over the canvas) ---------------------------------------------------------------


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> Shape:
    return lambda x, y: ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _rect(x0: float, y0: float, x1: float, y1: float) -> Shape:
    return lambda x, y: (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> Shape:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        qx = np.clip(x, x0 + r, x1 - r)
        qy = np.clip(y, y0 + r, y1 - r)
        return np.hypot(x - qx, y - qy) <= r

    return inside


def _capsule(ax: float, ay: float, bx: float, by: float, r: float) -> Shape:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx, dy = bx - ax, by - ay
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        return np.hypot(x - ax - t * dx, y - ay - t * dy) <= r

    return inside


def _union(*shapes: Shape) -> Shape:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = shapes[0](x, y)
        for shape in shapes[1:]:
            out = out | shape(x, y)
        return out

    return inside


def _minus(shape: Shape, *holes: Shape) -> Shape:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = shape(x, y)
        for hole in holes:
            out = out & ~hole(x, y)
        return out

    return inside


def _bottle(cx: float, top: float, bottom: float, body: float, neck: float) -> Shape:
    shoulder = top + 0.32 * (bottom - top)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = np.clip((y - (top + 0.18 * (bottom - top))) / (shoulder - top), 0.0, 1.0)
        half = neck + (body - neck) * t * t * (3 - 2 * t)
        return (np.abs(x - cx) <= half) & (y >= top) & (y <= bottom)

    return _union(inside, _rounded_rect(cx - body, bottom - 0.25, cx + body, bottom, 0.04))


def _mug(cx: float, top: float, bottom: float, half: float, handle_side: float = 1.0) -> Shape:
    body = _rounded_rect(cx - half, top, cx + half, bottom, 0.02)
    hx, hy = cx + handle_side * (half + 0.02), (top + bottom) / 2
    ring = _minus(_ellipse(hx, hy, 0.11, 0.13), _ellipse(hx, hy, 0.065, 0.085))
    return _union(body, ring)


# ---- paints -------------------------------------------------------------------------------------------------


def _cylinder(x: np.ndarray, cx: float, half: float) -> np.ndarray:
    """-1..1 across a vertical cylinder centred on cx."""
    return np.clip((x - cx) / half, -1.0, 1.0)


def _glossy(colour: tuple[float, float, float], cx: float, half: float) -> Paint:
    """A saturated glazed surface: diffuse falloff, a white specular streak, a bright rim on the right."""

    def paint(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = _cylinder(x, cx, half)
        diffuse = 0.35 + 0.65 * np.clip(np.sqrt(1 - u * u) * 0.9 - 0.35 * u, 0, 1)
        base = np.asarray(colour)[None, None, :] * diffuse[..., None]
        streak = np.exp(-(((u + 0.55) / 0.09) ** 2)) * (0.85 + 0.15 * np.sin(y * 40))
        rim = np.clip((u - 0.85) / 0.15, 0, 1) ** 2 * 0.7
        spec = np.clip(streak + rim, 0, 1)[..., None]
        return base * (1 - spec) + 250.0 * spec

    return paint


def _metallic(tint: tuple[float, float, float], cx: float, half: float, bands: float) -> Paint:
    """Chrome or gold: a reflected environment, sharp dark and bright bands across the cylinder."""

    def paint(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = _cylinder(x, cx, half)
        env = 0.5 + 0.5 * np.sin(bands * np.arcsin(u) + 2.0 * y)
        env = np.clip((env - 0.5) * 2.2 + 0.5, 0.04, 1.0)
        horizon = np.where(np.sin(bands * 0.6 * np.arcsin(u) + 1.3) > 0.6, 0.15, 1.0)
        value = env * horizon
        return np.asarray(tint)[None, None, :] * (0.12 + 0.95 * value[..., None])

    return paint


def _matte(colour: tuple[float, float, float], cx: float, half: float, light: float = 0.6) -> Paint:
    def paint(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = _cylinder(x, cx, half)
        shade = (1 - light) + light * np.clip(np.sqrt(1 - u * u) * 0.95 - 0.25 * u, 0, 1)
        return np.asarray(colour)[None, None, :] * shade[..., None]

    return paint


def _dark(level: float, detail: float) -> Paint:
    """A near-black product: faint shading and a few slightly brighter details (buttons, seams)."""

    def paint(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        shade = level * (0.85 + 0.3 * (1 - y)) + detail * (np.sin(x * 70) > 0.93)
        return np.repeat(shade[..., None], 3, axis=-1) * np.array([1.0, 1.0, 1.08])[None, None, :]

    return paint


def _white(cx: float, half: float) -> Paint:
    def paint(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = _cylinder(x, cx, half)
        shade = 0.84 + 0.14 * np.clip(np.sqrt(1 - u * u) - 0.2 * u, 0, 1)
        return np.asarray([252.0, 250.0, 246.0])[None, None, :] * shade[..., None]

    return paint


# ---- backdrops -------------------------------------------------------------------------------------------


def _backdrop(kind: str, rng: np.random.Generator, level: float = 0.0) -> np.ndarray:
    h = w = SIZE
    if kind == "white":
        return np.full((h, w, 3), 253.0 - level)
    if kind == "grey":
        return np.full((h, w, 3), 128.0) + np.array([0.0, 2.0, 6.0])
    if kind == "gradient":
        t = np.linspace(0.0, 1.0, h)[:, None, None]
        top, bottom = np.array([226.0, 232.0, 244.0]), np.array([150.0, 160.0, 186.0])
        return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
    if kind == "dark":
        return np.full((h, w, 3), 24.0) + np.array([0.0, 0.0, 3.0])
    if kind.startswith("dark-"):  # backdrops for dark products: plain, gradient, vignette, texture
        base = level
        if kind == "dark-plain":
            return np.full((h, w, 3), base)
        yy, xx = np.mgrid[0:h, 0:w] / SIZE
        if kind == "dark-gradient":
            return np.repeat((base + 8 * (yy - 0.5))[..., None], 3, axis=-1)
        if kind == "dark-vignette":
            return np.repeat((base + 5 - 10 * np.hypot(yy - 0.5, xx - 0.5))[..., None], 3, axis=-1)
        grain = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 2.5) * 6
        return np.repeat((base + grain)[..., None], 3, axis=-1)
    if kind.startswith("white-"):
        if kind == "white-plain":
            return np.full((h, w, 3), 250.0)
        yy = np.mgrid[0:h, 0:w][0] / SIZE
        if kind == "white-sweep":
            return np.repeat((255 - 14 * yy)[..., None], 3, axis=-1)
        return np.full((h, w, 3), 241.0) + np.array([2.0, 0.0, -3.0])
    name, tint = {
        "textured-brick": ("brick", (0.95, 0.62, 0.52)),
        "textured-grass": ("grass", (0.55, 0.85, 0.45)),
        "textured-gravel": ("gravel", (0.85, 0.82, 0.78)),
    }[kind]
    texture = (
        Image.open(skimage_data_file(f"{name}.png")).convert("L").resize((w, h), Image.Resampling.BICUBIC)
    )
    grey = np.asarray(texture, dtype=np.float64)
    return grey[..., None] * np.asarray(tint)[None, None, :]


# ---- rendering -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: str
    backdrop: str
    shape: Shape
    paint: Paint
    blur: float = 0.0  # px of defocus at the final size
    shadow: bool = True
    backdrop_level: float = 0.0


def _render(spec: _Spec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(photo RGB uint8 before JPEG, true alpha float 0..1)."""
    rng = np.random.default_rng(seed)
    big = SIZE * SUPERSAMPLE
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float64)
    x, y = (xx + 0.5) / big, (yy + 0.5) / big
    inside = spec.shape(x, y).astype(np.float64)
    colour = spec.paint(x, y, rng) * inside[..., None]

    def down(values: np.ndarray) -> np.ndarray:
        shape = (SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE, *values.shape[2:])
        return values.reshape(shape).mean(axis=(1, 3))

    alpha = down(inside)
    fg = down(colour) / np.maximum(alpha, 1e-9)[..., None]
    nearest = ndimage.distance_transform_edt(alpha <= 0, return_distances=False, return_indices=True)
    fg = fg[nearest[0], nearest[1]]
    if spec.blur > 0:
        alpha = ndimage.gaussian_filter(alpha, spec.blur)
    fg = fg + ndimage.gaussian_filter(rng.normal(0, 1.5, (SIZE, SIZE)), 0.8)[..., None]
    bg = _backdrop(spec.backdrop, rng, spec.backdrop_level)
    if spec.shadow:
        rows = np.flatnonzero(alpha.max(axis=1) > 0.5)
        cols = np.flatnonzero(alpha.max(axis=0) > 0.5)
        base_y, cx = rows[-1], (cols[0] + cols[-1]) / 2
        half = (cols[-1] - cols[0]) / 2
        gy, gx = np.mgrid[0:SIZE, 0:SIZE]
        blob = (((gx - cx - 0.15 * half) / (half * 1.1)) ** 2 + ((gy - base_y) / 9.0) ** 2) <= 1.0
        shade = ndimage.gaussian_filter(blob.astype(np.float64), 4.0)
        strength = 0.45 if spec.backdrop not in ("dark",) and not spec.backdrop.startswith("dark-") else 0.3
        bg = bg * (1 - strength * shade)[..., None]
    photo = fg * alpha[..., None] + bg * (1 - alpha[..., None])
    photo = photo + rng.normal(0, 2.5, photo.shape)
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8), alpha


def _specs() -> list[_Spec]:
    plain = ("white", "grey", "gradient", "dark")
    textured = ("textured-brick", "textured-grass", "textured-gravel")
    specs: list[_Spec] = []

    glossy = [
        (_bottle(0.5, 0.12, 0.9, 0.2, 0.07), (200.0, 30.0, 40.0), 0.5, 0.2),
        (
            _union(_ellipse(0.5, 0.6, 0.26, 0.28), _rect(0.44, 0.18, 0.56, 0.4)),
            (30.0, 60.0, 190.0),
            0.5,
            0.26,
        ),
        (_capsule(0.5, 0.2, 0.5, 0.82, 0.15), (20.0, 150.0, 60.0), 0.5, 0.15),
        (_rounded_rect(0.28, 0.2, 0.72, 0.86, 0.08), (230.0, 120.0, 20.0), 0.5, 0.22),
        (_mug(0.45, 0.3, 0.82, 0.2), (120.0, 30.0, 150.0), 0.45, 0.2),
    ]
    for i, ((shape, colour, cx, half), backdrop) in enumerate(
        zip(glossy, (*plain, textured[0]), strict=False)
    ):
        specs.append(
            _Spec(f"glossy-{i}", "glossy", backdrop, shape, _glossy(colour, cx, half), blur=0.5 * (i == 2))
        )

    gold, chrome = (235.0, 185.0, 90.0), (225.0, 228.0, 235.0)
    metallic = [
        (
            _union(_rounded_rect(0.33, 0.35, 0.67, 0.88, 0.05), _rect(0.42, 0.2, 0.58, 0.35)),
            gold,
            0.5,
            0.17,
            7.0,
        ),
        (_bottle(0.5, 0.1, 0.9, 0.18, 0.06), chrome, 0.5, 0.18, 9.0),
        (
            _union(_ellipse(0.5, 0.6, 0.27, 0.25), _capsule(0.72, 0.55, 0.88, 0.4, 0.035)),
            chrome,
            0.5,
            0.27,
            6.0,
        ),
        (_rect(0.36, 0.16, 0.64, 0.86), gold, 0.5, 0.14, 5.0),
        (_capsule(0.5, 0.18, 0.5, 0.84, 0.12), chrome, 0.5, 0.12, 8.0),
    ]
    for i, ((shape, tint, cx, half, bands), backdrop) in enumerate(
        zip(metallic, ("white", "grey", "gradient", "dark", textured[2]), strict=True)
    ):
        specs.append(_Spec(f"metallic-{i}", "metallic", backdrop, shape, _metallic(tint, cx, half, bands)))

    dark = [
        (_rounded_rect(0.25, 0.3, 0.75, 0.8, 0.05), 30.0, "dark-plain", 16.0),  # a camera body
        (_bottle(0.5, 0.1, 0.9, 0.19, 0.07), 34.0, "dark-gradient", 20.0),
        (_mug(0.44, 0.28, 0.82, 0.2), 28.0, "dark-vignette", 14.0),
        (_union(_ellipse(0.5, 0.55, 0.28, 0.3), _rect(0.45, 0.15, 0.55, 0.3)), 36.0, "dark-texture", 22.0),
        (_rounded_rect(0.3, 0.14, 0.7, 0.88, 0.12), 25.0, "dark-plain", 12.0),
    ]
    for i, (shape, level, backdrop, bg_level) in enumerate(dark):
        specs.append(
            _Spec(
                f"dark-{i}",
                "dark",
                backdrop,
                shape,
                _dark(level, 10.0),
                backdrop_level=bg_level,
                blur=0.4 * (i == 3),
            )
        )

    white = [
        (_mug(0.45, 0.3, 0.82, 0.2), 0.45, 0.2, "white-plain"),
        (_bottle(0.5, 0.1, 0.9, 0.19, 0.07), 0.5, 0.19, "white-sweep"),
        (_rounded_rect(0.25, 0.25, 0.75, 0.85, 0.03), 0.5, 0.25, "white-warm"),
        (_ellipse(0.5, 0.55, 0.3, 0.3), 0.5, 0.3, "white-plain"),
        (_capsule(0.5, 0.2, 0.5, 0.85, 0.16), 0.5, 0.16, "white-sweep"),
    ]
    for i, (shape, cx, half, backdrop) in enumerate(white):
        specs.append(_Spec(f"white-{i}", "white", backdrop, shape, _white(cx, half)))

    holed = [
        (
            _minus(_ellipse(0.5, 0.52, 0.32, 0.32), _ellipse(0.5, 0.52, 0.17, 0.17)),
            (190.0, 150.0, 60.0),
            0.5,
            0.32,
        ),
        (_mug(0.42, 0.28, 0.84, 0.22), (40.0, 110.0, 170.0), 0.42, 0.22),
        (_minus(_rect(0.22, 0.2, 0.78, 0.85), _rect(0.34, 0.32, 0.66, 0.73)), (150.0, 90.0, 50.0), 0.5, 0.28),
        (
            _union(
                _minus(_ellipse(0.36, 0.5, 0.18, 0.18), _ellipse(0.36, 0.5, 0.11, 0.11)),
                _minus(_ellipse(0.64, 0.5, 0.18, 0.18), _ellipse(0.64, 0.5, 0.11, 0.11)),
                _rect(0.34, 0.3, 0.66, 0.34),
            ),
            (60.0, 60.0, 70.0),
            0.5,
            0.32,
        ),
        (
            _minus(_rounded_rect(0.3, 0.12, 0.7, 0.88, 0.15), _ellipse(0.5, 0.3, 0.07, 0.07)),
            (200.0, 60.0, 90.0),
            0.5,
            0.2,
        ),
    ]
    for i, ((shape, colour, cx, half), backdrop) in enumerate(zip(holed, (*plain, textured[1]), strict=True)):
        specs.append(
            _Spec(f"holed-{i}", "holed", backdrop, shape, _matte(colour, cx, half), blur=0.6 * (i == 4))
        )

    thin = [
        (_capsule(0.2, 0.8, 0.8, 0.2, 0.018), (30.0, 30.0, 140.0)),  # a pen, diagonal
        (
            _union(_capsule(0.5, 0.12, 0.5, 0.6, 0.012), _ellipse(0.5, 0.72, 0.08, 0.14)),
            (160.0, 160.0, 170.0),
        ),
        (
            _union(_capsule(0.15, 0.5, 0.85, 0.5, 0.014), _capsule(0.15, 0.5, 0.35, 0.5, 0.03)),
            (90.0, 50.0, 30.0),
        ),
        (
            _union(
                _ellipse(0.5, 0.25, 0.16, 0.12),
                _capsule(0.5, 0.35, 0.5, 0.8, 0.01),
                _ellipse(0.5, 0.82, 0.15, 0.025),
            ),
            (200.0, 40.0, 50.0),
        ),
        (
            _union(_capsule(0.3, 0.15, 0.7, 0.85, 0.02), _capsule(0.7, 0.15, 0.3, 0.85, 0.02)),
            (20.0, 120.0, 110.0),
        ),
    ]
    for i, ((shape, colour), backdrop) in enumerate(
        zip(thin, ("white", "grey", "gradient", "dark", textured[0]), strict=True)
    ):
        specs.append(_Spec(f"thin-{i}", "thin", backdrop, shape, _matte(colour, 0.5, 0.5, light=0.3)))

    return [
        spec if not spec.backdrop.startswith("textured") else _Spec(**{**spec.__dict__, "shadow": False})
        for spec in specs
    ]


def build(folder: Path = RENDER_DIR) -> list[dict[str, object]]:
    """Render every spec into ``folder`` (JPEG q85 photo, PNG alpha) and write ``index.json``."""
    from productshot.tools.colordiff import srgb_to_lab

    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for seed, spec in enumerate(_specs()):
        photo, alpha = _render(spec, seed)
        alpha8 = np.clip(np.rint(alpha * 255), 0, 255).astype(np.uint8)
        Image.fromarray(photo, mode="RGB").save(folder / f"{spec.name}.jpg", quality=85)
        Image.fromarray(alpha8, mode="L").save(folder / f"{spec.name}.alpha.png", optimize=True)
        lab = srgb_to_lab(photo)[..., 0]
        delta_l = abs(float(lab[alpha8 == 255].mean()) - float(lab[alpha8 == 0].mean()))
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "backdrop": spec.backdrop,
                "photo": f"{spec.name}.jpg",
                "alpha": f"{spec.name}.alpha.png",
                "delta_l": round(delta_l, 2),
                "blur": spec.blur,
                "shadow": spec.shadow,
            }
        )
    (folder / "index.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    for row in build():
        print(row["name"], row["backdrop"], "ΔL*", row["delta_l"])
