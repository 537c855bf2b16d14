"""Loading the files a search needs: the estimator (which names the space) and the LUTs."""

from __future__ import annotations

from pathlib import Path

from binas.errors import FileFormatError, SpaceError
from binas.estimator.form import ESTIMATOR_FORMAT, BilinearForm, form_from_json
from binas.io import read_format
from binas.resources.lut import Lut, load_lut
from binas.space import SearchSpace, builtin_spaces, load_space

__all__ = ["load_search_inputs"]


def load_search_inputs(estimator: str | Path, luts: list[str | Path] | tuple[str | Path, ...],
                       space: str | Path | SearchSpace | None = None) -> tuple[SearchSpace, BilinearForm, list[Lut]]:
    """Read and validate an estimator and LUT files for one space.

    The space defaults to the built-in space named in the estimator file; a user space must be
    given (``--space FILE.yaml``). Every file is checked against the space's hash.

    Raises:
        FileFormatError, SpaceError: one sentence naming the file and the problem.
    """
    obj = read_format(estimator, ESTIMATOR_FORMAT, "estimator file")
    if space is None:
        name = obj.get("space")
        if not isinstance(name, str) or not name:
            raise FileFormatError(f"estimator file {estimator} names no space: pass --space")
        if name not in builtin_spaces():
            raise SpaceError(f"estimator file {estimator} was made for space {name!r}, which is not built in: "
                             "pass its YAML file with --space")
        space = name
    space = load_space(space)
    form = form_from_json(obj, space, f"estimator file {estimator}")
    tables = [load_lut(path, space) for path in luts]
    return space, form, tables
