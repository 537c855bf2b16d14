"""Loading the files a search needs: the estimator (which names the space) and the LUTs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from binas.artifacts import read_format
from binas.errors import FileFormatError, SpaceError
from binas.estimator.form import ESTIMATOR_FORMAT, NON_BILINEAR_KINDS, BilinearForm, form_from_json
from binas.lut.table import Lut, load_lut
from binas.space import Architecture, SearchSpace, builtin_spaces, load_space

__all__ = ["SearchInputs", "load_any_search_inputs", "load_search_inputs"]


@dataclass(frozen=True)
class SearchInputs:
    """A validated space, accuracy model and LUTs.

    ``score`` is None for bilinear estimators (``form`` is the estimator); for other predictors
    (MLP, quadratic, ...) it is their ``predict_archs`` and ``form`` is all zeros, used only for
    the resource side of the problem.
    """

    space: SearchSpace
    form: BilinearForm
    luts: list[Lut]
    score: Callable[[list[Architecture]], np.ndarray] | None = None


def _space(obj: dict[str, Any], estimator: str | Path, space: str | Path | SearchSpace | None) -> SearchSpace:
    if space is None:
        name = obj.get("space")
        if not isinstance(name, str) or not name:
            raise FileFormatError(f"estimator file {estimator} names no space: pass --space")
        if name not in builtin_spaces():
            raise SpaceError(f"estimator file {estimator} was made for space {name!r}, which is not built in: "
                             "pass its YAML file with --space")
        space = name
    return load_space(space)


def load_search_inputs(estimator: str | Path, luts: list[str | Path] | tuple[str | Path, ...],
                       space: str | Path | SearchSpace | None = None) -> tuple[SearchSpace, BilinearForm, list[Lut]]:
    """Read and validate a bilinear estimator and LUT files for one space.

    The space defaults to the built-in space named in the estimator file; a user space must be
    given (``--space FILE.yaml``). Every file is checked against the space's hash.

    Raises:
        FileFormatError, SpaceError: one sentence naming the file and the problem.
    """
    obj = read_format(estimator, ESTIMATOR_FORMAT, "estimator file")
    sp = _space(obj, estimator, space)
    form = form_from_json(obj, sp, f"estimator file {estimator}")
    return sp, form, [load_lut(path, sp) for path in luts]


def load_any_search_inputs(estimator: str | Path, luts: list[str | Path] | tuple[str | Path, ...],
                           space: str | Path | SearchSpace | None = None) -> SearchInputs:
    """Like :func:`load_search_inputs`, but also accepts non-bilinear predictors (for evolution/random)."""
    obj = read_format(estimator, ESTIMATOR_FORMAT, "estimator file")
    sp = _space(obj, estimator, space)
    tables = [load_lut(path, sp) for path in luts]
    if obj.get("kind") not in NON_BILINEAR_KINDS or "p_alpha" in obj:
        return SearchInputs(sp, form_from_json(obj, sp, f"estimator file {estimator}"), tables)
    from binas.estimator.store import load_predictor  # torch import only when needed

    predictor = load_predictor(estimator, sp)
    zeros = BilinearForm(sp.name, sp.space_hash, str(obj["kind"]), 0.0, np.zeros(sp.num_alpha),
                         np.zeros(sp.num_beta), np.zeros((sp.num_alpha, sp.num_beta)))
    return SearchInputs(sp, zeros, tables, predictor.predict_archs)
