"""Contributions by least squares on per-image outcomes (``binas estimator build --method regression``).

The paper's estimator (docs/estimator.md) reads every contribution off one measurement: ``Da = A^a - A0``
uses only the images of measurement ``a``. But every image of every measurement went through a
complete random subnet, so each 0/1 outcome says something about *all* the decisions that subnet
made. This module fits the estimator's additive form to all of them at once:

    correct[image i, measurement k] ~ b_i + w . x(subnet of i in k)

with ``x`` the one-hot ``(alpha, beta)`` encoding (absent blocks all zeros; optionally the
within-stage ``alpha x beta`` products of the bilinear form) and ``b_i`` a per-image effect
(difficulty), removed by centring within each image. The normal equations are accumulated one
measurement at a time, so memory does not grow with the number of images.

For this to work an image must see *different* random subnets in different measurements: without
common random numbers (``--no-crn``) every measurement draws its own images and contexts, so each
held-out image is seen many times under independent random subnets and the image effects cancel.
With CRN an image keeps its context in every measurement, and the fit reduces to the paired
differences of the paper's estimator.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from binas.estimator.form import BilinearForm
from binas.estimator.models import bilinear_pairs, with_products
from binas.space import SearchSpace
from binas.space.encoding import codes_to_onehot

__all__ = ["OutcomeRegression", "codes_to_features"]


def codes_to_features(space: SearchSpace, codes: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
    """One-hot ``(alpha, beta)`` features ``(n, num_alpha + num_beta [+ len(pairs)])`` of supernet codes.

    Args:
        codes: ``(n, positions)`` choice indices, -1 for absent blocks (stage-major, as the supernet's).
        pairs: optional ``(k, 2)`` (alpha index, beta index) products to append (the bilinear terms).
    """
    X = codes_to_onehot(space, codes)
    if pairs is not None and len(pairs):
        X = with_products(X, pairs, space.num_alpha)
    return X


class OutcomeRegression:
    """Accumulates ``(subnet codes, image ids, 0/1 outcomes)`` batches and solves the centred least squares.

    Args:
        space: the search space.
        num_images: size of the image pool the ids index (e.g. the held-out split).
        bilinear: add the within-stage ``alpha x beta`` products (the bilinear form's ``Q``).
    """

    def __init__(self, space: SearchSpace, num_images: int, bilinear: bool = False) -> None:
        self.space = space
        self.pairs = bilinear_pairs(space) if bilinear else None
        f = space.num_alpha + space.num_beta + (len(self.pairs) if bilinear else 0)
        self.xtx, self.xty = np.zeros((f, f)), np.zeros(f)
        self.sx, self.sy, self.count = np.zeros((num_images, f)), np.zeros(num_images), np.zeros(num_images)
        self.total_y, self.n = 0.0, 0

    def add(self, codes: np.ndarray, image_ids: np.ndarray, outcomes: np.ndarray) -> None:
        """One batch: image ``image_ids[r]`` went through subnet ``codes[r]`` with outcome ``outcomes[r]``."""
        X = codes_to_features(self.space, codes, self.pairs)
        y = np.asarray(outcomes, dtype=np.float64)
        self.xtx += X.T @ X
        self.xty += X.T.astype(np.float64) @ y
        image_ids = np.asarray(image_ids)
        if np.unique(image_ids).size == image_ids.size:  # the usual case: each image once per batch
            self.sx[image_ids] += X
            self.sy[image_ids] += y
            self.count[image_ids] += 1.0
        else:
            np.add.at(self.sx, image_ids, X)
            np.add.at(self.sy, image_ids, y)
            np.add.at(self.count, image_ids, 1.0)
        self.total_y += float(y.sum())
        self.n += y.size

    def add_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> "OutcomeRegression":
        for codes, ids, outcomes in batches:
            self.add(codes, ids, outcomes)
        return self

    def solve(self, ridge: float = 1e-6) -> tuple[float, np.ndarray]:
        """``(const, weights)`` in percent: prediction = ``const + x . weights``.

        The within-image (centred) normal equations are solved with a tiny relative ridge; the
        one-hot groups make them singular along directions no valid architecture distinguishes,
        and the ridge picks the minimum-norm solution there.
        """
        seen = self.count > 0
        sx, sy, c = self.sx[seen], self.sy[seen], self.count[seen]
        xtx = self.xtx - (sx / c[:, None]).T @ sx
        xty = self.xty - (sx / c[:, None]).T @ sy
        lam = ridge * max(float(np.trace(xtx)) / xtx.shape[0], 1e-12)
        w = np.linalg.solve(xtx + lam * np.eye(xtx.shape[0]), xty)
        const = (self.total_y - float(self.sx[seen].sum(axis=0) @ w)) / self.n
        return const * 100.0, w * 100.0

    def to_form(self, ridge: float = 1e-6, extra: dict | None = None):
        """The fit as a searchable :class:`~binas.estimator.form.BilinearForm` (kind ``contributions``)."""
        const, w = self.solve(ridge)
        sp, na, nb = self.space, self.space.num_alpha, self.space.num_beta
        Q = np.zeros((na, nb))
        if self.pairs is not None:
            Q[self.pairs[:, 0], self.pairs[:, 1]] = w[na + nb:]
        return BilinearForm(sp.name, sp.space_hash, "contributions", float(const), w[:na].copy(),
                            w[na:na + nb].copy(), Q, dict(extra or {}))
