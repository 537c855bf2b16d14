"""Interpretable scores of a fitted AutoBuild model.

- **Units**: a unit is one stage's full block sequence (depth + choice of every present block).
  ``norm`` is AutoBuild's score: the norm of the unit's isolated subgraph embedding at the top hop
  level (the ranking loss aligns embedding norms with accuracy ranks). ``contribution`` is the mean
  change of the predicted accuracy (points) when a stage of random context networks is replaced by
  the unit, the additive score the builder uses.
- **Choices**: the BINAS contributions protocol (docs/estimator.md) run on the model instead of the
  supernet, giving ``Da``/``Db`` tables directly comparable with a BINAS contributions estimator.
- **Features**: per feature category and value, from the feature-embedding MLPs (the value's
  centred embedding projected on the direction in which hop-0 graph embeddings grow) and a
  label-free permutation sensitivity (mean |change of prediction| when a category's codes are
  shuffled across present blocks).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from binas.autobuild.graph import FEATURES, graphs_from_choices
from binas.autobuild.predictor import AutoBuildPredictor
from binas.errors import BinasError
from binas.estimator.contributions import (Measurement, codes_for_contexts, contributions_form, measurement_plan,
                                          sample_contexts)
from binas.estimator.form import BilinearForm
from binas.space import SearchSpace

__all__ = ["UnitTable", "choice_contributions", "enumerate_units", "feature_importance", "random_codes",
           "unit_contributions", "unit_norms"]

MAX_UNITS = 250_000  # per stage; beyond this, enumerating every block sequence is refused


@dataclass(frozen=True)
class UnitTable:
    """Every unit of one stage: ``depths (U,)`` and ``codes (U, P)`` (choice index, -1 = absent)."""

    stage: int
    depths: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return int(self.depths.size)

    def blocks(self, space: SearchSpace, u: int) -> tuple[str, ...]:
        """Choice ids of unit ``u``."""
        st = space.stages[self.stage]
        return tuple(st.positions[j][int(c)].id for j, c in enumerate(self.codes[u][: self.depths[u]]))


def enumerate_units(space: SearchSpace, stage: int, max_units: int = MAX_UNITS) -> UnitTable:
    """All (depth, choices) sequences of ``stage``.

    Raises:
        BinasError: the stage has more than ``max_units`` sequences.
    """
    st = space.stages[stage]
    sizes = [len(p) for p in st.positions]
    total = sum(int(np.prod(sizes[:d])) for d in st.depths)
    if total > max_units:
        raise BinasError(f"stage {stage + 1} has {total:,} block sequences, more than the {max_units:,} AutoBuild "
                         f"can score exhaustively; reduce the space first")
    depths, codes = [], []
    for d in st.depths:
        grid = np.array(list(itertools.product(*[range(n) for n in sizes[:d]])), dtype=np.int64).reshape(-1, d)
        pad = np.full((grid.shape[0], st.num_positions - d), -1, dtype=np.int64)
        codes.append(np.hstack([grid, pad]))
        depths.append(np.full(grid.shape[0], d, dtype=np.int64))
    return UnitTable(stage, np.concatenate(depths), np.concatenate(codes))


def unit_norms(predictor: AutoBuildPredictor, table: UnitTable, batch_size: int = 8192) -> np.ndarray:
    """AutoBuild unit scores: ``||sum_v h_top[v]||`` of every unit's isolated stage subgraph."""
    predictor._require_fit()
    out = []
    with torch.no_grad():
        for start in range(0, len(table), batch_size):
            g = graphs_from_choices(predictor.space, predictor.vocab_, table.codes[start:start + batch_size],
                                    stage=table.stage)
            top = predictor.net_.node_levels(g)[-1]  # (B, P, D)
            out.append(top.sum(dim=1).norm(dim=1).double().numpy())
    return np.concatenate(out)


def random_codes(space: SearchSpace, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, N)`` choice codes of ``n`` uniformly sampled architectures (-1 = absent)."""
    return codes_for_contexts(space, Measurement("0"), sample_contexts(space, n, rng))


def _stage_columns(space: SearchSpace, stage: int) -> slice:
    start = sum(st.num_positions for st in space.stages[:stage])
    return slice(start, start + space.stages[stage].num_positions)


def unit_contributions(predictor: AutoBuildPredictor, table: UnitTable, units: np.ndarray,
                       contexts: np.ndarray) -> np.ndarray:
    """Mean predicted-accuracy change (points) from putting each of ``units`` into every context."""
    units = np.asarray(units, dtype=np.int64)
    R = contexts.shape[0]
    base = float(predictor.predict_graphs(graphs_from_choices(predictor.space, predictor.vocab_, contexts)).mean())
    codes = np.repeat(contexts[None], len(units), axis=0)  # (U, R, N)
    codes[:, :, _stage_columns(predictor.space, table.stage)] = table.codes[units][:, None, :]
    pred = predictor.predict_graphs(graphs_from_choices(predictor.space, predictor.vocab_, codes.reshape(-1, codes.shape[2])))
    return pred.reshape(len(units), R).mean(axis=1) - base


def choice_contributions(predictor: AutoBuildPredictor, n_contexts: int = 64, seed: int = 0,
                         convention: str = "reference") -> BilinearForm:
    """The BINAS contributions form (docs/estimator.md) measured on the model with common random numbers."""
    space = predictor.space
    u = sample_contexts(space, n_contexts, np.random.default_rng(seed))
    acc, err = {}, {}
    for m in measurement_plan(space):
        pred = predictor.predict_graphs(graphs_from_choices(space, predictor.vocab_, codes_for_contexts(space, m, u)))
        acc[m.key], err[m.key] = float(pred.mean()), float(pred.std() / np.sqrt(len(pred)))
    form = contributions_form(space, acc, err, convention, {"source": "autobuild model", "contexts": n_contexts})
    return BilinearForm(form.space, form.space_hash, "autobuild-contributions", form.const, form.p_alpha,
                        form.p_beta, form.Q, form.extra)


def _embedding_scores(predictor: AutoBuildPredictor, codes: np.ndarray) -> list[np.ndarray]:
    """Per category, per value: centred embedding projected on the mean direction of hop-0 embeddings."""
    net = predictor.net_
    with torch.no_grad():
        g = graphs_from_choices(predictor.space, predictor.vocab_, codes)
        g0 = net.node_levels(g)[0].sum(dim=1)  # (B, D)
        direction = (g0 / g0.norm(dim=1, keepdim=True).clamp_min(1e-8)).mean(dim=0)
        direction = direction / direction.norm().clamp_min(1e-8)
        out = []
        for f in range(len(FEATURES)):
            emb = net.feature_embeddings(f)
            out.append(((emb - emb.mean(dim=0)) @ direction).double().numpy())
    return out


def _permutation_scores(predictor: AutoBuildPredictor, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    g = graphs_from_choices(predictor.space, predictor.vocab_, codes)
    base = predictor.predict_graphs(g)
    present = g.mask.bool()
    out = np.zeros(len(FEATURES))
    for f in range(len(FEATURES)):
        feats = g.features.clone()
        values = feats[..., f][present]
        perm = torch.as_tensor(rng.permutation(values.numel()))
        feats[..., f][present] = values[perm]
        shuffled = predictor.predict_graphs(type(g)(feats, g.mask, g.adj))
        out[f] = float(np.mean(np.abs(shuffled - base)))
    return out


def feature_importance(predictor: AutoBuildPredictor, n_archs: int = 512, seed: int = 0) -> list[dict]:
    """One row per feature category: importance share, permutation sensitivity and per-value scores."""
    predictor._require_fit()
    rng = np.random.default_rng(seed)
    codes = random_codes(predictor.space, n_archs, rng)
    values = _embedding_scores(predictor, codes)
    perm = _permutation_scores(predictor, codes, rng)
    spread = np.array([float(np.ptp(v)) for v in values])
    share = spread / spread.sum() if spread.sum() > 0 else spread
    names = predictor.vocab_.value_names()
    return [{"feature": name, "importance": float(share[f]), "permutation_delta": float(perm[f]),
             "values": {n: float(v) for n, v in zip(names[f], values[f])}}
            for f, name in enumerate(FEATURES)]
