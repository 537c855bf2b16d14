"""The bilinear accuracy form and its file format (``binas.estimator/1``, docs/estimator.md).

    Acc(alpha, beta) = const + p_alpha^T alpha + p_beta^T beta + alpha^T Q beta

over the space's canonical variable layout (:attr:`SearchSpace.alpha_offsets`,
:attr:`SearchSpace.beta_offsets`). Every bilinear-expressible predictor is saved in this form so
the search reads one shape whatever produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from binas.artifacts import check_finite, read_format
from binas.errors import FileFormatError
from binas.io import atomic_write_json
from binas.space import Architecture, SearchSpace

__all__ = ["ESTIMATOR_FORMAT", "BilinearForm", "bilinear_rows", "load_estimator"]

ESTIMATOR_FORMAT = "binas.estimator/1"
NON_BILINEAR_KINDS = ("quadratic", "mlp", "autobuild", "stack")  # kinds saved with weights, not (only) a form


def bilinear_rows(X: np.ndarray, const: float, p_alpha: np.ndarray, p_beta: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``const + p_alpha.a + p_beta.b + a^T Q b`` for every row ``[a | b]`` of a one-hot feature matrix."""
    X = np.asarray(X, dtype=float)
    A, B = X[:, :p_alpha.size], X[:, p_alpha.size:]
    return const + A @ p_alpha + B @ p_beta + np.sum((A @ Q) * B, axis=1)


@dataclass(frozen=True)
class BilinearForm:
    """``const + p_alpha.alpha + p_beta.beta + alpha.Q.beta`` for one space (``Q`` dense)."""

    space: str
    space_hash: str
    kind: str
    const: float
    p_alpha: np.ndarray
    p_beta: np.ndarray
    Q: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. raw measurements of "contributions"

    def check_space(self, space: SearchSpace) -> None:
        space.check_made_for("the estimator", self.space, self.space_hash)

    def evaluate(self, alpha: np.ndarray, beta: np.ndarray) -> float:
        """Value for (possibly fractional) variables."""
        return float(self.const + self.p_alpha @ alpha + self.p_beta @ beta + alpha @ self.Q @ beta)

    def evaluate_rows(self, X: np.ndarray) -> np.ndarray:
        """Values for the rows ``[alpha | beta]`` of a one-hot feature matrix."""
        return bilinear_rows(X, self.const, self.p_alpha, self.p_beta, self.Q)

    def predict(self, space: SearchSpace, arch: Architecture) -> float:
        """Predicted accuracy of one architecture."""
        self.check_space(space)
        return self.evaluate(*space.encode(arch))

    def to_json(self) -> dict[str, Any]:
        rows, cols = np.nonzero(self.Q)
        obj = {"format": ESTIMATOR_FORMAT, "space": self.space, "space_hash": self.space_hash,
               "kind": self.kind, "const": float(self.const), "p_alpha": [float(v) for v in self.p_alpha],
               "p_beta": [float(v) for v in self.p_beta],
               "Q": [[int(i), int(j), float(self.Q[i, j])] for i, j in zip(rows, cols)]}
        obj.update(self.extra)
        return obj

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())


def _vector(obj: Any, n: int, where: str) -> np.ndarray:
    if not isinstance(obj, list) or len(obj) != n:
        size = len(obj) if isinstance(obj, list) else type(obj).__name__
        raise FileFormatError(f"{where} must be a list of {n} numbers, got {size}")
    return np.array([check_finite(v, f"{where}[{i}]") for i, v in enumerate(obj)])


def form_from_json(obj: dict[str, Any], space: SearchSpace, source: str = "estimator") -> BilinearForm:
    """Validate a ``binas.estimator/1`` object against ``space``.

    Raises:
        FileFormatError: another space, missing keys, wrong sizes, indices out of range, NaN/inf.
    """
    if obj.get("kind") in NON_BILINEAR_KINDS and "p_alpha" not in obj:
        raise FileFormatError(f"{source} holds a {obj['kind']!r} predictor, which is not bilinear: "
                              "search it with the evolution solver")
    missing = [k for k in ("space_hash", "kind", "const", "p_alpha", "p_beta", "Q") if k not in obj]
    if missing:
        raise FileFormatError(f"{source} is missing the key(s) {missing}")
    space.check_made_for(source, obj.get("space"), obj["space_hash"])
    Q = np.zeros((space.num_alpha, space.num_beta))
    if not isinstance(obj["Q"], list):
        raise FileFormatError(f"{source} 'Q' must be a list of [alpha_index, beta_index, value]")
    for n, entry in enumerate(obj["Q"]):
        ok = (isinstance(entry, list) and len(entry) == 3 and all(isinstance(v, int) for v in entry[:2])
              and 0 <= entry[0] < space.num_alpha and 0 <= entry[1] < space.num_beta)
        if not ok:
            raise FileFormatError(f"{source} 'Q' entry {n} ({entry!r}) is not a valid [alpha, beta, value] triple")
        Q[entry[0], entry[1]] = check_finite(entry[2], f"{source} 'Q' entry {n}")
    extra = {k: v for k, v in obj.items()
             if k not in ("format", "space", "space_hash", "kind", "const", "p_alpha", "p_beta", "Q")}
    return BilinearForm(
        space=str(obj.get("space", space.name)), space_hash=space.space_hash, kind=str(obj["kind"]),
        const=check_finite(obj["const"], f"{source} 'const'"),
        p_alpha=_vector(obj["p_alpha"], space.num_alpha, f"{source} 'p_alpha'"),
        p_beta=_vector(obj["p_beta"], space.num_beta, f"{source} 'p_beta'"), Q=Q, extra=extra,
    )


def load_estimator(path: str | Path, space: SearchSpace) -> BilinearForm:
    """Read and validate a bilinear estimator file for ``space``."""
    return form_from_json(read_format(path, ESTIMATOR_FORMAT, "estimator file"), space, f"estimator file {path}")
