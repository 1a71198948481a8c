"""The catalogue of augmentation ops: the one list of the torchvision v2 transforms a
composition is drawn from, with each tunable parameter's range (no torch here).

An op is known by its torchvision class name in a candidate's `Compose` list; its tunable
parameters are scalars (a tuple argument such as `scale=(0.6, 1.0)` is written from one
scalar and read back from it); `fixed` arguments depend only on the image side.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable
from dataclasses import dataclass, field

Scalar = int | float | str


@dataclass(frozen=True)
class Param:
    """One tunable argument: its keyword, how a value is drawn, written and read back."""

    kw: str
    lo: float = 0.0
    hi: float = 1.0
    kind: str = "float"  # "float" (2 decimals), "int", "odd" (odd int) or "choice"
    choices: tuple[str, ...] = ()
    write: Callable[[Scalar], str] = repr  # scalar -> the argument's source
    read: Callable[[object], Scalar] = lambda v: v  # type: ignore[assignment,return-value]

    def draw(self, rng: random.Random) -> Scalar:
        if self.kind == "choice":
            return rng.choice(self.choices)
        if self.kind == "int":
            return rng.randint(int(self.lo), int(self.hi))
        if self.kind == "odd":
            return rng.randrange(int(self.lo), int(self.hi) + 1, 2)
        return round(rng.uniform(self.lo, self.hi), 2)

    def check(self, value: Scalar) -> Scalar:
        """`value` if it lies in this parameter's range; ValueError otherwise."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.kw}={value!r}: one of {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.kw}={value!r}: a number")
        if not self.lo <= float(value) <= self.hi:
            raise ValueError(f"{self.kw}={value}: outside [{self.lo:g}, {self.hi:g}]")
        if self.kind in ("int", "odd"):
            if float(value) != int(value) or (self.kind == "odd" and int(value) % 2 == 0):
                raise ValueError(f"{self.kw}={value}: an {'odd ' if self.kind == 'odd' else ''}"
                                 "integer")
            return int(value)
        return float(value)

    def read_literal(self, source: str) -> Scalar:
        """The scalar of an argument's source text (ValueError when it is no literal)."""
        return self.read(ast.literal_eval(source))


def _prob(kw: str = "p", lo: float = 0.1, hi: float = 1.0) -> Param:
    return Param(kw, lo, hi)


def _pair_upper(kw: str, lo: float, hi: float, base: float) -> Param:
    """A range argument `(base, v)`, tuned by its upper end."""
    return Param(kw, lo, hi, write=lambda v: f"({base!r}, {v!r})", read=lambda t: t[1])


def _pair_lower(kw: str, lo: float, hi: float, top: float) -> Param:
    """A range argument `(v, top)`, tuned by its lower end."""
    return Param(kw, lo, hi, write=lambda v: f"({v!r}, {top!r})", read=lambda t: t[0])


def _symmetric(kw: str, lo: float, hi: float) -> Param:
    """A range argument `(1 - v, 1 + v)`, tuned by its half-width."""
    return Param(kw, lo, hi, write=lambda v: f"({round(1 - float(v), 2)!r}, "
                 f"{round(1 + float(v), 2)!r})",
                 read=lambda t: round((t[1] - t[0]) / 2, 2))


def _square(kw: str, lo: float, hi: float) -> Param:
    return Param(kw, lo, hi, write=lambda v: f"({v!r}, {v!r})", read=lambda t: t[0])


@dataclass(frozen=True)
class Op:
    """One catalogue op: its name, torchvision v2 class, tunable and fixed arguments."""

    name: str
    cls: str
    summary: str
    params: tuple[Param, ...] = ()
    fixed: Callable[[int], dict[str, str]] = field(default=lambda side: {})

    def param(self, kw: str) -> Param:
        for p in self.params:
            if p.kw == kw:
                return p
        raise KeyError(f"{self.name} has no parameter {kw!r}")

    def draw(self, rng: random.Random) -> dict[str, Scalar]:
        return {p.kw: p.draw(rng) for p in self.params}


CATALOGUE: tuple[Op, ...] = (
    Op("crop", "RandomCrop", "pad by `padding` pixels (constant, edge or reflect), crop back",
       (Param("padding", 1, 6, "int"),
        Param("padding_mode", kind="choice", choices=("constant", "edge", "reflect"))),
       lambda side: {"size": str(side)}),
    Op("hflip", "RandomHorizontalFlip", "mirror left-right with probability p", (_prob(),)),
    Op("vflip", "RandomVerticalFlip", "mirror top-bottom with probability p", (_prob(),)),
    Op("resized_crop", "RandomResizedCrop", "crop a random area share, resize back",
       (_pair_lower("scale", 0.3, 0.95, 1.0),),
       lambda side: {"size": str(side), "antialias": "True"}),
    Op("color_jitter", "ColorJitter", "random brightness and contrast",
       (Param("brightness", 0.05, 0.8), Param("contrast", 0.05, 0.8))),
    Op("rotation", "RandomRotation", "rotate by up to `degrees`",
       (Param("degrees", 1, 45, "int"),)),
    Op("affine", "RandomAffine", "rotate, translate and scale",
       (Param("degrees", 0, 30, "int"), _square("translate", 0.0, 0.3),
        _symmetric("scale", 0.0, 0.3))),
    Op("grayscale", "RandomGrayscale", "grey with probability p", (_prob(),)),
    Op("perspective", "RandomPerspective", "perspective warp",
       (Param("distortion_scale", 0.05, 0.6), _prob())),
    Op("blur", "GaussianBlur", "Gaussian blur",
       (Param("kernel_size", 3, 7, "odd"), _pair_upper("sigma", 0.2, 2.0, 0.1))),
    Op("invert", "RandomInvert", "invert intensities with probability p", (_prob(),)),
    Op("posterize", "RandomPosterize", "keep `bits` bits per channel",
       (Param("bits", 2, 7, "int"), _prob())),
    Op("solarize", "RandomSolarize", "invert pixels above `threshold` (0-255)",
       (Param("threshold", 64, 250, "int"), _prob())),
    Op("sharpness", "RandomAdjustSharpness", "sharpen (factor > 1) or soften",
       (Param("sharpness_factor", 0.0, 3.0), _prob())),
    Op("autocontrast", "RandomAutocontrast", "stretch contrast with probability p", (_prob(),)),
    Op("equalize", "RandomEqualize", "equalise the histogram with probability p", (_prob(),)),
    Op("erasing", "RandomErasing", "erase a random rectangle",
       (_prob(), _pair_upper("scale", 0.03, 0.4, 0.02))),
    Op("elastic", "ElasticTransform", "elastic displacement",
       (Param("alpha", 5.0, 80.0), Param("sigma", 3.0, 8.0))),
)
BY_NAME: dict[str, Op] = {op.name: op for op in CATALOGUE}
BY_CLASS: dict[str, Op] = {op.cls: op for op in CATALOGUE}
NEUTRAL = "Identity"  # what an empty composition holds (v2.Compose needs one transform)


def op_named(name: str) -> Op:
    """The catalogue op called `name`; ValueError naming the known ones."""
    if name not in BY_NAME:
        raise ValueError(f"unknown op {name!r} (known: {', '.join(BY_NAME)})")
    return BY_NAME[name]
