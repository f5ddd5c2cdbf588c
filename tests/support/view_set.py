"""A frozen set of product cutouts labelled by camera view, built before the top-down detector was tuned.

`top-down`: photographed from nearly straight above (plates, bowls, a donut, a pizza, a watch face, a coin
cut from scikit-image's photo of coins, a round tin lid, a notebook). `eye-level`: photographed from the
side (bottles, cups, boxes from tests.support.imagegen, a knife, a bag, a vase, a sneaker, a ball, the
coffee cup of scikit-image seen at about 45°, cut with a drawn mask). The labels are what a person would
say; some are hard on purpose (the ball, the notebook), so the measured accuracy is honest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from tests.support.imagegen import make_product


@dataclass(frozen=True)
class ViewItem:
    name: str
    label: str  # "top-down" | "eye-level"
    build: Callable[[], Image.Image]


def _disc_product(size: int, rings: list[tuple[float, tuple[int, int, int]]], seed: int = 0) -> Image.Image:
    """A round object from above: concentric rings (radius fraction, colour), a little grain, soft light."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(xx - size / 2 + 0.5, yy - size / 2 + 0.5) / (size / 2)
    rgb = np.zeros((size, size, 3), np.float32)
    for radius, colour in sorted(rings, reverse=True):
        rgb[r <= radius] = colour
    light = 1.0 - 0.12 * (xx / size) + 0.05 * (yy / size)
    grain = np.random.default_rng(seed).normal(0, 3, (size, size, 1))
    rgb = rgb * light[..., None] + grain
    alpha = np.clip((0.98 - r) * size / 2, 0, 1) * 255
    return Image.fromarray(np.dstack([np.clip(rgb, 0, 255), alpha]).astype(np.uint8), "RGBA")


def _plate() -> Image.Image:
    return _disc_product(500, [(0.98, (238, 238, 236)), (0.66, (226, 226, 224)), (0.62, (240, 240, 238))])


def _bowl() -> Image.Image:
    return _disc_product(420, [(0.98, (60, 90, 150)), (0.85, (230, 225, 210)), (0.7, (200, 120, 60))], 1)


def _donut() -> Image.Image:
    image = _disc_product(360, [(0.98, (200, 140, 80)), (0.8, (230, 120, 170))], 2)
    a = np.asarray(image).copy()
    yy, xx = np.mgrid[0:360, 0:360]
    a[np.hypot(xx - 180, yy - 180) < 60, 3] = 0  # the hole
    return Image.fromarray(a, "RGBA")


def _pizza() -> Image.Image:
    return _disc_product(600, [(0.98, (205, 150, 80)), (0.88, (200, 70, 40)), (0.3, (240, 220, 150))], 3)


def _watch() -> Image.Image:
    image = _disc_product(300, [(0.98, (180, 180, 185)), (0.86, (20, 20, 24))], 4)
    draw = ImageDraw.Draw(image)
    draw.line((150, 150, 150, 60), fill=(230, 230, 230, 255), width=5)
    draw.line((150, 150, 215, 170), fill=(230, 230, 230, 255), width=4)
    return image


def _tin() -> Image.Image:
    return _disc_product(380, [(0.98, (170, 30, 40)), (0.9, (190, 40, 50)), (0.5, (240, 230, 200))], 5)


def _coin() -> Image.Image:
    import skimage.data

    coins = skimage.data.coins()  # greyscale coins photographed from straight above
    crop = coins[30:110, 40:122].astype(np.float32)  # one coin with a little table around it
    size = crop.shape[0]
    yy, xx = np.mgrid[0:size, 0 : crop.shape[1]]
    r = np.hypot(xx - crop.shape[1] / 2, yy - size / 2) / (0.46 * size)
    alpha = np.clip((1.0 - r) * 0.46 * size, 0, 1) * 255
    rgb = np.dstack([crop, crop * 0.95, crop * 0.8])
    return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA").resize((240, 240))


def _notebook() -> Image.Image:
    image = Image.new("RGBA", (420, 560), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((10, 10, 410, 550), radius=18, fill=(40, 70, 110, 255))
    draw.rectangle((40, 10, 60, 550), fill=(30, 50, 80, 255))
    return image


def _knife() -> Image.Image:
    image = Image.new("RGBA", (900, 110), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, 30), (560, 12), (560, 100)], fill=(200, 204, 210, 255))
    draw.rounded_rectangle((555, 25, 895, 78), radius=14, fill=(50, 35, 30, 255))
    return image


def _bag() -> Image.Image:
    image = Image.new("RGBA", (700, 520), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon([(90, 200), (610, 200), (680, 515), (20, 515)], fill=(170, 115, 70, 255))
    draw.arc((190, 20, 510, 380), 180, 360, fill=(150, 100, 60, 255), width=26)
    return image


def _vase() -> Image.Image:
    image = Image.new("RGBA", (300, 640), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 180, 280, 600), fill=(90, 140, 170, 255))
    draw.rectangle((105, 20, 195, 260), fill=(90, 140, 170, 255))
    draw.rectangle((60, 560, 240, 635), fill=(90, 140, 170, 255))
    return image


def _sneaker() -> Image.Image:
    image = Image.new("RGBA", (800, 380), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon(
        [(20, 300), (60, 120), (330, 40), (470, 140), (760, 230), (780, 370), (20, 370)],
        fill=(240, 240, 240, 255),
    )
    draw.rectangle((20, 320, 780, 370), fill=(60, 60, 60, 255))
    return image


def _ball() -> Image.Image:
    return _disc_product(400, [(0.98, (230, 120, 40)), (0.05, (230, 120, 40))], 6)


def _coffee() -> Image.Image:
    import skimage.data

    photo = Image.fromarray(skimage.data.coffee()).convert("RGBA")  # a cup on a saucer, seen at about 45°
    mask = Image.new("L", photo.size, 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((25, 140, 440, 390), fill=255)  # the saucer
    draw.ellipse((110, 25, 400, 300), fill=255)  # the cup
    photo.putalpha(mask)
    return photo


VIEW_SET: tuple[ViewItem, ...] = (
    ViewItem("plate", "top-down", _plate),
    ViewItem("bowl", "top-down", _bowl),
    ViewItem("donut", "top-down", _donut),
    ViewItem("pizza", "top-down", _pizza),
    ViewItem("watch", "top-down", _watch),
    ViewItem("tin-lid", "top-down", _tin),
    ViewItem("coin", "top-down", _coin),
    ViewItem("notebook", "top-down", _notebook),
    ViewItem("bottle", "eye-level", lambda: make_product((220, 520), "bottle")),
    ViewItem("cup", "eye-level", lambda: make_product((360, 320), "cup", color=(230, 230, 225))),
    ViewItem("box", "eye-level", lambda: make_product((400, 360), "box", color=(60, 90, 170))),
    ViewItem("knife", "eye-level", _knife),
    ViewItem("bag", "eye-level", _bag),
    ViewItem("vase", "eye-level", _vase),
    ViewItem("sneaker", "eye-level", _sneaker),
    ViewItem("ball", "eye-level", _ball),
    ViewItem("coffee-45deg", "eye-level", _coffee),
)
