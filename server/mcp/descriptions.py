"""What the tools' parameters mean, written for a model reading the schema: units, defaults, examples.

Shared by several tools, so every tool describes an image, a position or `save_to` the same way.
"""

from __future__ import annotations

from productshot.server.mcp.inputs import IMAGE_FORMS

IMAGE_DOC = f"The image: {IMAGE_FORMS}."
POSITION_DOC = (
    "Where the product stands on the canvas. A named anchor: top-left, top, top-right, left, center, right, "
    "bottom-left, bottom, bottom-right (synonyms such as 'lower left' or 'middle' work, and Korean such as "
    "왼쪽 아래, 오른쪽 위, 가운데); or an exact point for the product's bottom-centre, as fractions of the "
    "canvas 'x=0.3,y=0.8' or in pixels 'x=300px,y=620px'. Anchors keep a margin from the edges; bottom "
    "anchors stand the product on the ground line."
)
POSITION_EXAMPLES = ["bottom-left", "center", "왼쪽 아래", "x=0.3,y=0.8", "x=300px,y=620px"]
IMAGE_EXAMPLES = ["~/Pictures/bag.jpg", "a01jd5k2m8q3xyz7f", "sample:coffee"]
SCALE_DOC = (
    "The product's longest side as a fraction of the canvas's short side, 0 < scale <= 4 (a long thin "
    "product on a wide canvas can exceed 1). Default: a fit rule on the product's shape makes it the hero "
    "(a knife spans most of the width, a bottle most of the height); 0.3 is small, 0.8 is very large. "
    "The product always stays inside the margins: a scale too big stops at the frame and a note says so."
)
MARGIN_DOC = "Gap between the product and the canvas edges, as a fraction of the canvas's short side (0 to 0.25). Default 0.05."
SHADOW_DOC = (
    "Draw shadows: a dark contact shadow where the product touches the ground and a cast shadow from the "
    "scene's light. Default true."
)
LIGHT_DOC = (
    "Where the key light comes from, for the cast shadow: left, right, top-left, top-right, top, front, "
    "front-left, front-right, back, back-left, back-right. Default: the light read from the background."
)
HARMONIZE_DOC = (
    "Match the product's white balance, exposure, edge light and grain gently to the scene's light "
    "(a sunset warms it, a night scene cools and darkens it); it stays the same product. Default true."
)
FLOATING_DOC = (
    "The product floats or hangs (no surface under it, no contact shadow). Default false: the product "
    "stands on the scene's surface (the studio draws a floor, table top or pedestal under it; on other "
    "backgrounds it moves to the nearest ground and a note says so)."
)
VIEW_DOC = (
    "Camera view of the background: 'eye-level' or 'flat-lay' (seen from straight above). Default: from "
    "the request's words ('flat lay', 'top view', '위에서 본') or the product photo's own view."
)
COMPOSITE_FLOATING_DOC = (
    "The product floats or hangs on purpose: no surface is looked for under it and it casts no shadow. "
    "Default false: it is still placed exactly where asked, and a note says when no surface is under it."
)
SAVE_TO_DOC = (
    "Optional: also write the full-resolution image to this file, e.g. '~/Pictures/shot.png' (a bare name "
    "such as 'shot.png' goes into the first allowed folder). It must lie "
    "inside the allowed folders (PRODUCTSHOT_ALLOWED_DIRS; by default Pictures, Downloads, Desktop and the "
    "data home), end in .png, .jpg, .jpeg or .webp, and not exist yet: files are never overwritten."
)
MODEL_DOC = (
    "Background generator: 'auto' (default: sdxl-turbo where its weights and an accelerator are present, the "
    "embedded procedural 'studio' otherwise), or a name from list_models such as 'studio' or 'sdxl-turbo'. "
    "A named model that is missing is an error, never silently swapped."
)
SEED_DOC = "Random seed (0 to 4294967295) for a repeatable background; omit it for a new one each time."
WIDTH_DOC = "Canvas width in pixels, 64 to 4096."
HEIGHT_DOC = "Canvas height in pixels, 64 to 4096."
FACTS_DOC = (
    'What is known about the product, e.g. {"name": "ceramic mug", "category": "kitchenware", '
    '"colours": ["white"], "material": "glossy ceramic"}. All fields optional.'
)


__all__ = [
    "FACTS_DOC",
    "FLOATING_DOC",
    "HARMONIZE_DOC",
    "HEIGHT_DOC",
    "IMAGE_DOC",
    "IMAGE_EXAMPLES",
    "LIGHT_DOC",
    "MARGIN_DOC",
    "MODEL_DOC",
    "POSITION_DOC",
    "POSITION_EXAMPLES",
    "SAVE_TO_DOC",
    "SCALE_DOC",
    "SEED_DOC",
    "SHADOW_DOC",
    "VIEW_DOC",
    "WIDTH_DOC",
]
