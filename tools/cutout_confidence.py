"""How far to trust a cutout: a confidence from the evidence its refinement gathered, and notes saying why.

Each piece of evidence is turned into a risk between 0 and 1, and the confidence is the chance that none of
them bites: the product of (1 − risk). The evidence, and why it predicts a wrong cutout:

- **cluttered** — the photo's border is not one smooth backdrop colour, so the outline rests on the
  model alone (no backdrop model can check it, open holes or recover dropped parts). A fixed, moderate risk:
  a textured backdrop on its own is not fatal.
- **unsure** — the model's mask is soft: its 10–90 % ramp is wide (a sure model draws a sharp edge), or it
  left semi-transparent regions away from the edge (ghosts of the background, half-found parts).
- **cropped** — the product runs off the edge of the photo: part of it is missing, or the "product" is
  a whole scene.
- **pieces** — the cutout came out as several separate parts.
- **edges** — the refinement had to move the model's edge far (in the model's own pixels): the two disagree.
- **dropped** — the model half-saw parts next to the product (a faint mask) in colours the photo's border
  never shows, and the cutout left them out: likely a part of the product lost (a pale handle on brick).
  Faint backdrop (gravel, a shadow) has the border's colours and does not count.
- **thin** — much of the product is edge pixels whose side of alpha 0.5 is a coin flip: the expected
  share of the product on the wrong side. A product a few pixels thick loses IoU to a sub-pixel error;
  the ramp is centred on 5 %, the share an IoU of 0.95 allows.

Below `DOUBT_BELOW` the result carries one note per risk that weighs (the worst first, at most two).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from productshot.tools.notes import Note, note

if TYPE_CHECKING:
    from productshot.tools.cutout_refine import Refinement

DOUBT_BELOW: Final = 0.5
_CLUTTER_RISK: Final = 0.25


@dataclass(frozen=True)
class CutoutTrust:
    """A cutout's confidence (0..1), the notes that explain a low one, and the risks behind it."""

    confidence: float
    notes: tuple[Note, ...]
    risks: dict[str, float]


def _ramp(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between."""
    return min(1.0, max(0.0, (value - low) / (high - low)))


def cutout_risks(refinement: Refinement) -> dict[str, float]:
    """Each kind of doubt as a risk in 0..1 (see the module doc for what each one measures)."""
    if refinement.area <= 0.0:
        return {"empty": 1.0}
    return {
        "cluttered": 0.0 if refinement.plain_backdrop else _CLUTTER_RISK,
        "unsure": max(_ramp(refinement.coarse_ramp, 2.75, 4.5), _ramp(refinement.coarse_unsure, 0.04, 0.14)),
        "cropped": _ramp(refinement.border_touch, 0.1, 0.4),
        "pieces": _ramp(float(refinement.fragments), 2.0, 5.0),
        "edges": _ramp(refinement.edge_shift, 1.5, 4.0),
        "dropped": _ramp(refinement.unseen_parts, 0.004, 0.025),
        "thin": _ramp(refinement.edge_doubt, 0.025, 0.075),
    }


def assess_cutout(refinement: Refinement) -> CutoutTrust:
    """The cutout's confidence and, below `DOUBT_BELOW`, notes naming the main reasons."""
    risks = cutout_risks(refinement)
    confidence = 1.0
    for risk in risks.values():
        confidence *= 1.0 - risk
    confidence = round(confidence, 3)
    notes: tuple[Note, ...] = ()
    if confidence < DOUBT_BELOW:
        ranked = sorted(risks.items(), key=lambda item: -item[1])
        weighty = [name for name, risk in ranked if risk >= 0.2][:2] or [ranked[0][0]]
        notes = tuple(note(f"cutout_doubtful_{name}", confidence=confidence) for name in weighty)
    return CutoutTrust(confidence, notes, {name: round(risk, 3) for name, risk in risks.items()})


__all__ = ["DOUBT_BELOW", "CutoutTrust", "assess_cutout", "cutout_risks"]
