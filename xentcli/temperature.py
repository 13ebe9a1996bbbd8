"""Temperature scaling (``--fit-temperature``): the one T in [0.01, 100] that minimises the
reported loss when each row of logits is divided by T, and how much of the loss that removes.

The search runs in beta = 1/T, where the loss is convex: per row,

    multiclass  l_i(beta) = A_i logsumexp(beta x_i) - beta sum_c a_ic x_ic
    binary      l_i(beta) = u_i softplus(-beta z_i) + v_i softplus(beta z_i)

(a: target mass times class weight, A = sum_c a; u = pw y', v = 1 - y'), so L(beta), L'(beta)
and L''(beta) are weighted sums over rows: :class:`TemperatureSums` folds them like the other
sums (chunk by chunk, per slice, merged across threads and Dask tasks). A safeguarded Newton
iteration on beta reads the input once per step (several betas per pass while the step is
large), until the Newton step is below ``TOLERANCE`` of beta; each pass keeps memory bounded by
the chunk, as the first one did.

Probabilities enter as log-probabilities (clipped with the report's eps), so T = 1 is
``softmax(log p)``: the rows renormalised. ``calibration_loss`` is measured inside that family
(the loss at T = 1 minus the loss at T*, never negative); ``renormalization`` is the report's
``loss_mean`` minus the loss at T = 1 (0 for logits; for probabilities the part of the loss
due to rows summing to 1 only within --sum-tol, and to clipping), so that
``loss_mean = renormalization + calibration_loss + temperature_scaling.loss_mean``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xentcli import kernels
from xentcli.accumulate import CompensatedSum, Summary, calibration_bin
from xentcli.config import LossConfig, Task, TaskPlan
from xentcli.io import Chunk
from xentcli.scoring import CheckedRows, ChunkScorer

T_MIN, T_MAX = 0.01, 100.0  # the search range of T (and so of beta = 1/T)
BETA_MIN, BETA_MAX = 1.0 / T_MAX, 1.0 / T_MIN
TOLERANCE = 1e-9  # the last Newton step, relative to beta: T* is then exact to ~1e-9
MAX_PASSES = 60  # bisection alone would need ~40 to reach the tolerance

Scope = Any  # None: every row; else a --group-by slice's key
Requests = dict[Scope, np.ndarray]  # the betas to evaluate, per scope


@dataclass
class TemperatureInputs:
    """One chunk's counted rows, ready for the temperature kernels: multiclass ``x`` (n, C)
    log-probabilities shifted to a row max of 0, ``a`` = A_i, ``b`` = sum_c a_ic x_ic; binary
    ``x`` (n,) logits, ``a`` = u_i, ``b`` = v_i. ``hit``: the top label is right (1.0 or 0.0;
    a temperature does not move the argmax)."""

    multiclass: bool
    x: np.ndarray
    a: np.ndarray
    b: np.ndarray
    hit: np.ndarray
    sample_weight: np.ndarray | None

    def take(self, idx: np.ndarray) -> TemperatureInputs:
        sw = None if self.sample_weight is None else self.sample_weight[idx]
        return TemperatureInputs(
            self.multiclass, self.x[idx], self.a[idx], self.b[idx], self.hit[idx], sw
        )

    def rows(self, betas: np.ndarray) -> kernels.TemperatureRows:
        kernel = kernels.temperature_multiclass if self.multiclass else kernels.temperature_binary
        return kernel(self.x, self.a, self.b, betas)


def prepare(rows: CheckedRows, plan: TaskPlan, loss: LossConfig) -> TemperatureInputs:
    """The temperature kernels' inputs from checked rows (counted ones only)."""
    s = np.asarray(rows.scores, dtype=np.float64)
    alpha = loss.label_smoothing
    if plan.task is Task.binary:
        assert rows.labels is not None
        z = s[:, 0]
        if not loss.logits:
            p, _ = kernels.clip(z, plan.eps)
            with np.errstate(divide="ignore"):
                z = np.log(p) - np.log1p(-p)
            z = np.clip(z, -kernels.TEMPERATURE_LIMIT, kernels.TEMPERATURE_LIMIT)
        y = rows.labels.astype(np.float64)
        y_smooth = y if alpha == 0.0 else y * (1.0 - alpha) + alpha / 2.0
        pw = 1.0 if plan.pos_weight is None else float(plan.pos_weight[0])
        hit = ((z > 0) == (y == 1)).astype(np.float64)
        return TemperatureInputs(False, z, pw * y_smooth, 1.0 - y_smooth, hit, rows.sample_weight)
    c = s.shape[1]
    if loss.logits:
        z = s
    else:
        p, _ = kernels.clip(s, plan.eps)
        with np.errstate(divide="ignore"):
            z = np.log(p)
    x = z - z.max(axis=1, keepdims=True)
    w = np.ones(c) if plan.class_weight is None else plan.class_weight
    pred = kernels.argmax_rows(s)
    if rows.targets is not None:
        t = rows.targets if alpha == 0.0 else rows.targets * (1.0 - alpha) + alpha / c
        coef = t * w
        a = coef.sum(axis=1)
        b = kernels.xlogy(coef, x).sum(axis=1)
        truth = kernels.argmax_rows(rows.targets)
    else:
        assert rows.labels is not None
        y = rows.labels
        w_y = w[y]
        a = (1.0 - alpha) * w_y
        b = kernels.xlogy(a, kernels.take_along_rows(x, y))
        if alpha > 0.0:
            a = a + (alpha / c) * w.sum()
            b = b + (alpha / c) * kernels.xlogy(w, x).sum(axis=1)
        truth = y
    x = np.maximum(x, kernels.TEMPERATURE_FLOOR)
    hit = (pred == truth).astype(np.float64)
    return TemperatureInputs(True, x, a, b, hit, rows.sample_weight)


@dataclass
class TemperatureSums:
    """Weighted sums over rows, at each of K betas: the loss, its first and second derivative
    in beta (nats), and the calibration bins of the top-label confidence. Mergeable."""

    betas: np.ndarray
    bins: int
    loss: CompensatedSum = field(init=False)
    slope: CompensatedSum = field(init=False)
    curvature: CompensatedSum = field(init=False)
    bin_weight: CompensatedSum = field(init=False)
    bin_confidence: CompensatedSum = field(init=False)
    bin_hits: CompensatedSum = field(init=False)

    def __post_init__(self) -> None:
        k = len(self.betas)
        self.loss = CompensatedSum((k,))
        self.slope = CompensatedSum((k,))
        self.curvature = CompensatedSum((k,))
        self.bin_weight = CompensatedSum((k, self.bins))
        self.bin_confidence = CompensatedSum((k, self.bins))
        self.bin_hits = CompensatedSum((k, self.bins))

    def update(self, inputs: TemperatureInputs) -> None:
        if len(inputs.hit) == 0:
            return
        rows = inputs.rows(self.betas)
        sw = inputs.sample_weight
        if sw is not None and not (sw > 0).all():  # a row of weight 0 adds nothing (0 x inf)
            keep = sw > 0
            sw = sw[keep]
            rows = kernels.TemperatureRows(*(a[:, keep] for a in vars(rows).values()))
            inputs = inputs.take(np.flatnonzero(keep))
        if sw is None:
            self.loss.add(rows.loss.sum(axis=1))
            self.slope.add(rows.slope.sum(axis=1))
            self.curvature.add(rows.curvature.sum(axis=1))
        else:
            self.loss.add(rows.loss @ sw)
            self.slope.add(rows.slope @ sw)
            self.curvature.add(rows.curvature @ sw)
        w = np.ones(len(inputs.hit)) if sw is None else sw
        bins = self.bins
        k = len(self.betas)
        # one bincount over (beta, bin) pairs for all K betas at once
        b = calibration_bin(rows.confidence.reshape(-1), bins).reshape(k, -1)
        b += (np.arange(k) * bins)[:, None]
        flat = b.reshape(-1)
        size = k * bins
        wk = np.broadcast_to(w, (k, len(w))).reshape(-1)
        self.bin_weight.add(np.bincount(flat, weights=wk, minlength=size).reshape(k, bins))
        hits = np.broadcast_to(w * inputs.hit, (k, len(w))).reshape(-1)
        self.bin_hits.add(np.bincount(flat, weights=hits, minlength=size).reshape(k, bins))
        conf = (rows.confidence * w).reshape(-1)
        self.bin_confidence.add(np.bincount(flat, weights=conf, minlength=size).reshape(k, bins))

    def merge(self, other: TemperatureSums) -> TemperatureSums:
        for name in ("loss", "slope", "curvature", "bin_weight", "bin_confidence", "bin_hits"):
            getattr(self, name).merge(getattr(other, name))
        return self

    def ece(self, j: int) -> float:
        weight = self.bin_weight.value[j]
        total = float(weight.sum())
        if not total > 0:
            return math.nan
        gaps = np.abs(self.bin_hits.value[j] - self.bin_confidence.value[j])
        return float(gaps.sum() / total)


def merge_sums(
    mine: dict[Scope, TemperatureSums], other: dict[Scope, TemperatureSums]
) -> dict[Scope, TemperatureSums]:
    for key, sums in other.items():
        if key in mine:
            mine[key].merge(sums)
        else:
            mine[key] = sums
    return mine


def fold_temperature(
    parts: Iterator[Chunk],
    scorer: ChunkScorer,
    group_by: tuple[str, ...],
    requests: Requests,
    bins: int,
) -> dict[Scope, TemperatureSums]:
    """One pass: every chunk's rows folded into the sums at the requested betas, for every
    row (scope None) and for each requested --group-by slice."""
    from xentcli.fold import Grouper

    out: dict[Scope, TemperatureSums] = {}
    grouper = Grouper(group_by) if group_by else None
    sliced = any(key is not None for key in requests)
    for part in parts:
        checked = scorer.checked(part)
        inputs = prepare(checked.counted(), scorer.plan, scorer.loss)
        if None in requests:
            _sums(out, None, requests, bins).update(inputs)
        if grouper is not None and sliced:
            for key, idx in grouper.slices(part, checked.keep):
                if key in requests:
                    _sums(out, key, requests, bins).update(inputs.take(idx))
    return out


def _sums(
    out: dict[Scope, TemperatureSums], key: Scope, requests: Requests, bins: int
) -> TemperatureSums:
    if key not in out:
        out[key] = TemperatureSums(np.asarray(requests[key], dtype=np.float64), bins)
    return out[key]


@dataclass
class Point:
    """The totals (nats, not divided by the weight sum) at one beta."""

    beta: float
    loss: float
    slope: float
    curvature: float
    ece: float

    @property
    def u(self) -> float:
        return math.log(self.beta)


# the first pass: T = 1 and betas a factor sqrt(2) apart around it, ordered so that each
# chain of doublings costs one exponential (the kernel squares the rest)
FIRST_BETAS = (0.25, 0.5, 1.0, 2.0, 2**-1.5, 2**-0.5, 2**0.5)
MAX_LOG_STEP = math.log(16.0)  # an unbracketed step moves beta by at most this factor
NARROW = 1e-2  # a bracket this narrow in log beta: the Hermite root is exact to ~1e-11


@dataclass
class Search:
    """The search of one scope, one pass at a time, in u = log beta (where the slope
    g = dL/du = beta L' and g' = beta L' + beta^2 L'' come from the sums): the first pass
    evaluates FIRST_BETAS; then, once the minimum is bracketed, the root of the cubic
    Hermite interpolant of g over the bracket (an error about the bracket's width to the
    fourth power), with two more betas around it that bracket it tightly for the next pass;
    unbracketed, a Newton step in u. Done when the Newton step in beta from the best point is
    below ``TOLERANCE`` of beta."""

    points: list[Point] = field(default_factory=list)
    final: Point | None = None

    def propose(self) -> list[float]:
        """The betas to evaluate in the next pass ([] once done)."""
        if self.final is not None:
            return []
        if not self.points:
            return list(FIRST_BETAS)
        if not all(math.isfinite(p.loss) for p in self.points):
            self.final = self.points[0]  # an infinite loss (--clip-eps 0): nothing to fit
            return []
        # the point nearest the minimum by its own Newton step (the loss itself is flat
        # there, to rounding)
        best = min(self.points, key=_newton_distance)
        below = [p for p in self.points if p.slope < 0]
        above = [p for p in self.points if p.slope > 0]
        lo = max(below, key=lambda p: p.beta) if below else None
        hi = min(above, key=lambda p: p.beta) if above else None
        for p in self.points:  # convex: a bound whose slope points outwards is the minimum
            if (p.beta <= BETA_MIN and p.slope >= 0) or (p.beta >= BETA_MAX and p.slope <= 0):
                self.final = p
                return []
        step = -best.slope / best.curvature if best.curvature > 0 else math.nan
        if (
            best.slope == 0
            or abs(step) <= TOLERANCE * best.beta
            or (lo is not None and hi is not None and hi.beta - lo.beta <= TOLERANCE * best.beta)
        ):
            self._finish(best)
            return []
        if lo is not None and hi is not None:
            x = _hermite_root(lo, hi)
            # the distance to Newton's estimate from the best point: a generous bound on the
            # interpolant's error, and the half-width of the next bracket
            newton = math.log(best.beta) + _log_step(best)
            spread = abs(newton - x) if math.isfinite(newton) else 0.0
            spread = min(max(2.0 * spread, 1e-3 * abs(x) + 1e-9), 0.5 * (hi.u - lo.u))
            lo_u, hi_u = lo.u, hi.u
            if any(abs(p.u - x) <= TOLERANCE for p in self.points):
                self._finish(best)  # at the rounding floor: nothing new to evaluate
                return []
            out = [x]
            if hi_u - lo_u > NARROW:  # the estimate's error may still be above the tolerance
                out += [u for u in (x - spread, x + spread) if lo_u < u < hi_u]
            return sorted(math.exp(u) for u in out)
        # one side only: from the point nearest the unexplored side, Newton's step in u
        # towards it and twice as far (Newton undershoots where the loss flattens), and the
        # end of the range itself, so the next pass has a bracket or the minimum at the end
        best = min(self.points, key=lambda p: p.beta) if hi is not None else best
        best = max(self.points, key=lambda p: p.beta) if lo is not None else best
        step = _log_step(best)
        sign = 1.0 if step > 0 else -1.0
        moves = [sign * min(abs(k * step), MAX_LOG_STEP) for k in (1.0, 2.0)]
        out = []
        for u in (best.u + m for m in moves):
            x = min(max(math.exp(u), BETA_MIN), BETA_MAX)
            if x not in out and not any(p.beta == x for p in self.points):
                out.append(x)
        end = BETA_MAX if sign > 0 else BETA_MIN
        if end not in out and not any(p.beta == end for p in self.points):
            out.append(end)
        if not out:
            self._finish(best)
        return sorted(out)

    def _finish(self, best: Point) -> None:
        """Done at ``best``, or at the lowest loss seen where that is lower beyond rounding."""
        lowest = min(self.points, key=lambda p: p.loss)
        self.final = best if best.loss <= lowest.loss + 1e-12 * abs(lowest.loss) else lowest

    def add(self, sums: TemperatureSums) -> None:
        for j, beta in enumerate(sums.betas):
            self.points.append(
                Point(
                    float(beta),
                    float(sums.loss.value[j]),
                    float(sums.slope.value[j]),
                    float(sums.curvature.value[j]),
                    sums.ece(j),
                )
            )


def _newton_distance(p: Point) -> float:
    """|L' / L''| relative to beta: how far Newton puts the minimum from ``p``."""
    if p.slope == 0:
        return 0.0
    return abs(p.slope) / (p.curvature * p.beta) if p.curvature > 0 else math.inf


def _log_step(p: Point) -> float:
    """Newton's step in u = log beta from ``p`` (NaN where the curvature in u is not > 0)."""
    g = p.beta * p.slope
    g1 = g + p.beta * p.beta * p.curvature
    return -g / g1 if g1 > 0 else (math.inf if g < 0 else -math.inf)


def _hermite_root(lo: Point, hi: Point) -> float:
    """The root in (lo.u, hi.u) of the cubic Hermite interpolant of g = dL/du, from g and
    g' at both ends (g(lo) < 0 < g(hi)); bisection of the cubic, which is monotone enough
    near its root, to full precision."""
    u0, u1 = lo.u, hi.u
    h = u1 - u0
    g0, g1 = lo.beta * lo.slope, hi.beta * hi.slope
    d0 = (g0 + lo.beta * lo.beta * lo.curvature) * h
    d1 = (g1 + hi.beta * hi.beta * hi.curvature) * h

    def cubic(t: float) -> float:
        t2, t3 = t * t, t * t * t
        return (
            (2 * t3 - 3 * t2 + 1) * g0
            + (t3 - 2 * t2 + t) * d0
            + (-2 * t3 + 3 * t2) * g1
            + (t3 - t2) * d1
        )

    a, b = 0.0, 1.0
    for _ in range(200):
        m = 0.5 * (a + b)
        if cubic(m) < 0:
            a = m
        else:
            b = m
        if b - a < 1e-16:
            break
    return u0 + 0.5 * (a + b) * h


@dataclass(frozen=True)
class TemperatureFit:
    """A scope's fit, in nats (the result converts to the report's unit)."""

    temperature: float
    loss_mean: float  # the loss at T*
    loss_mean_t1: float  # the loss at T = 1 (softmax of the log-probabilities)
    ece: float
    boundary: bool
    passes: int


PassRunner = Callable[[Requests], dict[Scope, TemperatureSums]]


def fit(run_pass: PassRunner, weight_sums: dict[Scope, float]) -> dict[Scope, TemperatureFit]:
    """Fit T* for every scope (None: all rows; slice keys), each pass one ``run_pass`` over
    the input at the betas the scopes' searches ask for."""
    searches = {key: Search() for key in weight_sums}
    passes = 0
    while True:
        requests = {}
        for key, search in searches.items():
            betas = search.propose()
            if betas:
                requests[key] = np.asarray(betas, dtype=np.float64)
        if not requests:
            break
        if passes >= MAX_PASSES:  # not reached: bisection halves log beta each pass
            raise RuntimeError("temperature search did not converge")
        passes += 1
        found = run_pass(requests)
        for key in requests:
            if key in found:
                searches[key].add(found[key])
            else:  # no rows of the slice counted: nothing to fit
                searches[key].final = Point(1.0, math.nan, math.nan, math.nan, math.nan)
    out = {}
    for key, search in searches.items():
        assert search.final is not None
        final = search.final
        w = weight_sums[key]
        at_1 = next((p for p in search.points if p.beta == 1.0), final)
        finite = math.isfinite(final.loss)
        out[key] = TemperatureFit(
            temperature=1.0 / final.beta if finite else math.nan,
            loss_mean=final.loss / w,
            loss_mean_t1=at_1.loss / w,
            ece=final.ece,
            boundary=finite and (final.beta <= BETA_MIN or final.beta >= BETA_MAX),
            passes=passes,
        )
    return out


def weight_sums(summary: Summary, slices: dict[Scope, Summary]) -> dict[Scope, float]:
    """The denominators of the report's means, per scope (the fit divides by the same)."""
    out: dict[Scope, float] = {None: float(summary.weight_sum.value)}
    for key, s in slices.items():
        out[key] = float(s.weight_sum.value)
    return out
