"""Published figures in their published settings, and Parity's number in the same setting.

A benchmark is trusted when its settings reproduce the literature before it adds its own
comparisons. Each :class:`Reproduction` names a published figure, how Parity measures the
same quantity, and the tolerance it must meet. Classical checks are recomputed (seconds
each: a reference solution, a mesh-convergence rate, a Taylor test); learned methods are
read from the committed record stores (median over seeds), because retraining them is
hours. A learned method that misses the figure while trained on less than its paper's
budget is *budget-limited*, and the row says both budgets; one that misses it on the
paper's budget, or a classical check that misses, is *not reproduced*.
``parity reproductions`` measures every row and writes ``reports/reproductions``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from parity.harness import registry
from parity.harness.store import load_records
from parity.published import ghia_1982 as ghia

Status = Literal["reproduced", "budget-limited", "not reproduced", "not measured"]
CheckKind = Literal["abs", "factor", "at_least"]


@dataclasses.dataclass(frozen=True)
class Measured:
    value: float
    detail: str
    """How the value was obtained (seeds and spread, resolution, ...)."""


@dataclasses.dataclass(frozen=True)
class Check:
    """What "reproduced" means: ``abs``, within ``amount`` of the figure; ``factor``, an error at most ``amount``
    times the published one; ``at_least``, a ranking ratio at least ``amount``."""

    kind: CheckKind
    amount: float

    def passes(self, value: float, published: float) -> bool:
        if self.kind == "abs":
            return abs(value - published) <= self.amount
        if self.kind == "factor":
            return value <= self.amount * published
        return value >= self.amount

    def gap(self, value: float, published: float) -> str:
        if self.kind == "abs":
            return f"{value - published:+.3g}"
        if self.kind == "factor":
            return f"{value / published:.3g}x"
        return "—"

    def describe(self) -> str:
        return {"abs": f"within ±{self.amount:g}", "factor": f"at most {self.amount:g}x the published error",
                "at_least": f"at least {self.amount:g}"}[self.kind]


@dataclasses.dataclass(frozen=True)
class Reproduction:
    family: str
    source: str
    setting: str
    quantity: str
    published: float
    published_text: str
    check: Check
    measure: Callable[[Path], Measured | None]
    """``measure(root)``: Parity's number, from the checkout at ``root`` (its committed stores); None when not on record."""
    budget: str = ""
    """For learned methods: the budget used against the published one. Empty for classical checks."""
    where: str = ""
    """The report or test that shows the number in full."""
    not_run: str = ""
    """Why Parity has no record for this row yet (what running it here would take); empty for rows that must be measured."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    reproduction: Reproduction
    measured: Measured | None
    status: Status

    @property
    def gap(self) -> str:
        return "—" if self.measured is None else self.reproduction.check.gap(self.measured.value, self.reproduction.published)


def assess(reproduction: Reproduction, root: Path) -> Outcome:
    """Measure one row and decide its status."""
    measured = reproduction.measure(root)
    if measured is None or not math.isfinite(measured.value):
        return Outcome(reproduction, measured, "not measured")
    if reproduction.check.passes(measured.value, reproduction.published):
        return Outcome(reproduction, measured, "reproduced")
    return Outcome(reproduction, measured, "budget-limited" if reproduction.budget else "not reproduced")


def assess_all(root: Path, rows: tuple[Reproduction, ...] | None = None) -> list[Outcome]:
    return [assess(row, root) for row in (REPRODUCTIONS if rows is None else rows)]


# --- learned methods, from the committed stores ---------------------------------------------------------------------


def from_store(store: str, label: str, metric: str = "rel_l2", **params: object) -> Callable[[Path], Measured | None]:
    """The median over seeds of ``metric`` for the ``label`` rows of ``results/<store>`` whose problem has ``params``."""

    def measure(root: Path) -> Measured | None:
        values = _seed_values(root / "results" / store, label, metric, params)
        if values is None:
            return None
        return Measured(float(np.median(values)), _spread(values))

    return measure


def ratio_from_store(store: str, numerator: str, denominator: str, **params: object) -> Callable[[Path], Measured | None]:
    """Median rel L2 of ``numerator`` over that of ``denominator`` (a ranking: how many times worse the first is)."""

    def measure(root: Path) -> Measured | None:
        top = _seed_values(root / "results" / store, numerator, "rel_l2", params)
        bottom = _seed_values(root / "results" / store, denominator, "rel_l2", params)
        if top is None or bottom is None:
            return None
        a, b = float(np.median(top)), float(np.median(bottom))
        return Measured(a / b, f"{numerator} {a:.3g} against {denominator} {b:.3g} (medians over {len(top)} and {len(bottom)} seeds)")

    return measure


def _seed_values(root: Path, label: str, metric: str, params: dict[str, object]) -> np.ndarray | None:
    frame = load_records(root, quiet=True)
    if frame.empty:
        return None
    frame = frame.drop_duplicates("case_key", keep="last")  # the latest record of each case
    chosen = frame[(frame["label"] == label) & (frame["status"] == "ok")]
    for key, value in params.items():
        column = f"problem_params.{key}"
        if column not in chosen:
            return None
        chosen = chosen[np.isclose(chosen[column], value)] if isinstance(value, float) else chosen[chosen[column] == value]
    column = metric if metric in chosen else f"metrics.{metric}"
    if chosen.empty or column not in chosen:
        return None
    return chosen[column].to_numpy(float)


def _spread(values: np.ndarray) -> str:
    if len(values) == 1:
        return "1 seed"
    return f"median of {len(values)} seeds [{values.min():.3g}–{values.max():.3g}]"


def _kolmogorov_points(root: Path, store: str) -> tuple[dict[str, dict[int, float]], dict[str, np.ndarray]] | None:
    """A Kolmogorov store's coarse-grid sweeps (scheme -> grid -> corr. time 0.95) and each learned label's seed values."""
    from parity.harness.store import Store

    frame = load_records(root / "results" / store, quiet=True)
    if frame.empty:
        return None
    frame = frame[frame["status"] == "ok"].drop_duplicates("case_key", keep="last")
    sweeps: dict[str, dict[int, float]] = {}
    for _, run in frame[frame["solver"] == "coarse_grid"].iterrows():
        trace = Store(root / "results" / store).trace(run)
        sweeps[str(run["info.scheme"])] = dict(zip(trace["step"].astype(int), trace["corr_time_095"].astype(float), strict=True))
    learned = {label: group["metrics.corr_time_095"].to_numpy(float) for label, group in frame[frame["family"] == "sciml"].groupby("label")}
    return sweeps, learned


def _equal_time_grid(sweep: dict[int, float], time: float) -> float:
    """The grid of ``sweep`` with correlation time ``time``, log-linear between grids; NaN outside the sweep."""
    grids = sorted(sweep)
    times = np.array([sweep[g] for g in grids])
    if not times[0] < time <= times[-1]:
        return float("nan")
    return float(np.exp(np.interp(time, times, np.log(grids))))


def finite_volume_over_spectral(root: Path) -> Measured | None:
    """The finite-volume grid of the most accurate pseudo-spectral grid's correlation time, over that grid.

    A spectral grid that never decorrelated within the horizon gives no time to match and is
    skipped; when the match lies beyond the finite-volume sweep the row is not measured (NaN),
    and the detail gives every grid's ratio or bound.
    """
    found = _kolmogorov_points(root, "kolmogorov_2d")
    if found is None or not {"spectral", "finite_volume"} <= set(found[0]):
        return None
    spectral, volume = found[0]["spectral"], found[0]["finite_volume"]
    decorrelated = [grid for grid, time in sorted(spectral.items()) if time < max(spectral.values())]
    if not decorrelated:
        return None
    texts = []
    for grid in decorrelated:
        fv = _equal_time_grid(volume, spectral[grid])
        bound = (f"more than {max(volume) / grid:.1f}x (beyond finite volume {max(volume)}²)" if spectral[grid] > max(volume.values())
                 else f"at most {min(volume) / grid:.1f}x (below finite volume {min(volume)}²)")
        texts.append(f"{grid}²: {fv / grid:.1f}x" if math.isfinite(fv) else f"{grid}²: {bound}")
    finest = decorrelated[-1]
    return Measured(_equal_time_grid(volume, spectral[finest]) / finest, "pseudo-spectral grid → finite-volume ratio at equal "
                    "correlation time (0.95): " + "; ".join(texts))


def hybrid_gain(label: str, scheme: str, grid: int, as_resolution: bool) -> Callable[[Path], Measured | None]:
    """A learned correction against its own scheme: the grid of equal correlation time over its grid, or the correlation-time ratio."""

    def measure(root: Path) -> Measured | None:
        found = _kolmogorov_points(root, "kolmogorov_2d_hybrid")
        if found is None or label not in found[1] or scheme not in found[0]:
            return None
        sweep, values = found[0][scheme], found[1][label]
        time = float(np.median(values))
        if as_resolution:
            value = _equal_time_grid(sweep, time) / grid if time > sweep[min(sweep)] else 1.0
        else:
            value = time / sweep[grid]
        return Measured(value, f"{_spread(values)}: correlation 0.95 for {time:.2f} against {sweep.get(grid, float('nan')):.2f} "
                        f"for the scheme alone on {grid}²")

    return measure


# --- classical checks, recomputed ------------------------------------------------------------------------------------


def burgers_maximum_slope(root: Path) -> Measured:
    """|u_x| at the shock of the Cole–Hopf reference (x = 0, t = 1.6037/π), by a centred difference of step 1e-6."""
    h, t = 1e-6, 1.6037 / math.pi
    right, left = registry.problem_class("burgers_1d")().reference(np.array([[h, t], [-h, t]]))[:, 0]
    return Measured(abs(right - left) / (2 * h), "Cole–Hopf reference, centred difference h = 1e-6")


def ghia_deviation(re: int) -> Callable[[Path], Measured]:
    """Max |Δ| of the cavity reference's centreline velocities from Ghia et al.'s tables (their misprints left out)."""

    def measure(root: Path) -> Measured:
        problem = registry.problem_class("lid_cavity_2d")(re=float(re))
        du, dv = ghia.centreline_deviations(problem.reference, re)
        return Measured(max(du, dv), f"u(0.5, y): {du:.2g}, v(x, 0.5): {dv:.2g}; the reference: Taylor–Hood on "
                                            f"{problem.reference_cells}² graded cells")

    return measure


def kovasznay_velocity_rate(root: Path) -> Measured:
    """The L2 convergence rate of Taylor–Hood P2/P1 velocity on Kovasznay flow, from 12² to 24² cells."""
    problem = registry.problem_class("kovasznay_2d")(n_test=4000)
    x = problem.test_points()
    exact = problem.reference(x)
    solver = registry.solver_class("fem_ns")(degree=2)
    errors = [np.linalg.norm(solver.solve_at(problem, n)(x)[:, :2] - exact) / np.linalg.norm(exact) for n in (12, 24)]
    return Measured(math.log2(errors[0] / errors[1]), f"rel L2 {errors[0]:.2g} on 12², {errors[1]:.2g} on 24²")


def fwi_gradient_taylor_rate(root: Path) -> Measured:
    """The smallest ratio of successive second-order remainders of Devito's adjoint-state FWI gradient (float64)."""
    from scipy.ndimage import gaussian_filter

    from parity.numerics.seismic_devito import SeismicModeller
    from parity.numerics.seismic_survey import surface_survey
    from parity.numerics.taylor import taylor_rates

    shape, h = (40, 30), 0.01
    survey = surface_survey(shape, h, shots=2, receivers=20, peak_frequency=10.0, duration=0.4, c_max=3.5, absorbing_cells=10)
    modeller = SeismicModeller(survey, 3.5, dtype=np.float64)
    depth = h * np.arange(shape[1])[None, :] + np.zeros((shape[0], 1))
    truth = 2.0 + 0.8 * (depth > 0.12) + 0.4 * (depth > 0.22)
    start = gaussian_filter(truth, 3.0, mode="nearest")
    observed = modeller.shot_records(truth)
    misfit, gradient = modeller.misfit_and_gradient(start, observed)
    direction = gaussian_filter(np.random.default_rng(0).standard_normal(shape), 3.0)
    direction *= 0.01 / np.abs(direction).max()
    _, second = taylor_rates(lambda c: modeller.misfit_and_gradient(c, observed)[0], start, direction, misfit, gradient,
                             2.0 ** -np.arange(0, 5))
    worst = float(second[np.argmax(np.abs(second - 4.0))])
    return Measured(worst, "remainder ratios " + ", ".join(f"{r:.3f}" for r in second) + " over 4 halvings of eps")


# --- the table -------------------------------------------------------------------------------------------------------



def _sakov(label: str, method: str, published: float, within: float) -> Reproduction:
    """A row of Sakov & Oke's Lorenz-96 table: the committed sweep's analysis RMSE of ``label`` with every variable observed."""
    return Reproduction(
        "assimilation", "Sakov & Oke 2008 (DAPPER's sakov2008), Lorenz-96", f"40 variables, F = 8, all observed every 0.05 with R = I: {method}",
        "analysis RMSE", published, f"{published:g}", Check("abs", within), from_store("lorenz96", label, "rmse", sensors=40), where="reports/lorenz96",
    )


def _fno_budget(epochs: int, instances: int) -> str:
    return f"{epochs} epochs over {instances} instances, against the paper's 500 over 1000 on a GPU"

_DIVAL = {"phantom_model": "dival", "image_size": 128, "angles": 30}

REPRODUCTIONS: tuple[Reproduction, ...] = (
    Reproduction(
        "FBPINN", "Moseley et al. 2023 (FBPINN paper), 1D multi-scale ODE", "ω₁ = 1, ω₂ = 15 on [−2π, 2π], 3000 points, "
        "FBPINN 30 subdomains of 2×16 against a 4×64 PINN (the paper's figures: FBPINN accurate, PINN fails)",
        "PINN error / FBPINN error (ranking)", 10.0, "FBPINN ≫ PINN (no single number)", Check("at_least", 10.0),
        ratio_from_store("reference", "PINN 4x64", "FBPINN 30 subdomains", omega2=15.0),
        budget="10 000 Adam steps against the paper's 50 000", where="reports/example",
    ),
    Reproduction(
        "PINN", "Raissi et al. 2019, Burgers", "ν = 0.01/π, u₀ = −sin πx; the paper's 8×20 tanh network (9 layers of 20 in "
        "the paper's count), Adam then L-BFGS", "rel L2", 6.7e-4, "6.7e-4", Check("factor", 1.5),
        from_store("burgers_1d", "PINN 8x20 Adam+L-BFGS", nu=0.01 / math.pi),
        budget="4000 steps (2000 Adam + 2000 L-BFGS) on 8192 points; the paper runs L-BFGS to its stopping rule on 10 000",
        where="reports/burgers_1d",
    ),
    Reproduction(
        "PINN", "Raissi et al. 2019, Burgers (figure reached with jaxpi's recipe)", "ν = 0.01/π; 4×64 modified MLP with "
        "the jaxpi ingredients (Wang et al. 2023), Adam then L-BFGS", "rel L2", 6.7e-4, "6.7e-4", Check("factor", 1.5),
        from_store("burgers_1d", "PINN recipe 4x64 (jaxpi - fourier) Adam+L-BFGS", nu=0.01 / math.pi),
        budget="16 000 steps or 570 s; jaxpi's Burgers run is 300 000 steps of a 4×256 network on a GPU",
        where="reports/burgers_1d",
    ),
    Reproduction(
        "spectral / reference", "Basdevant et al. 1986, Burgers", "ν = 0.01/π, maximum slope |u_x| at x = 0, t = 1.6037/π",
        "max |u_x|", 152.00516, "152.00516", Check("abs", 1e-4), burgers_maximum_slope,
        where="tests/test_burgers_1d.py",
    ),
    Reproduction(
        "FEM", "Ghia, Ghia & Shin 1982, lid-driven cavity", "Re = 100, centreline velocities u(0.5, y) and v(x, 0.5)",
        "max |Δ| from the tables (lid speed 1)", 0.0, "tables I and II", Check("abs", 0.02), ghia_deviation(100),
        where="reports/lid_cavity_2d",
    ),
    Reproduction(
        "FEM", "Ghia, Ghia & Shin 1982, lid-driven cavity", "Re = 1000, centreline velocities u(0.5, y) and v(x, 0.5)",
        "max |Δ| from the tables (lid speed 1)", 0.0, "tables I and II", Check("abs", 0.02), ghia_deviation(1000),
        where="reports/lid_cavity_2d",
    ),
    Reproduction(
        "FEM", "Taylor–Hood P2/P1 a-priori error estimate", "Kovasznay flow, Re = 40, velocity in L2 under mesh refinement",
        "convergence order", 3.0, "3 (k + 1 for P_k velocity)", Check("abs", 0.15), kovasznay_velocity_rate,
        where="tests/test_navier_stokes.py",
    ),
    Reproduction(
        "FWI", "Taylor test of an exact gradient", "Devito adjoint-state gradient of the L2 shot-record misfit, layered "
        "40×30 model, 2 shots; second-order remainder under halving eps", "remainder ratio (worst)", 4.0, "4",
        Check("abs", 0.3), fwi_gradient_taylor_rate, where="tests/test_seismic_fwi.py",
    ),
    Reproduction(
        "CT, classical", "Baguer, Leuschner & Schmidt 2020 (dival Ellipses)", "128², 30 angles, 2.5 % noise; FBP, filter "
        "and cutoff tuned on validation", "PSNR (dB)", 24.18, "24.18", Check("abs", 0.5),
        from_store("ct_2d_dival", "FBP (tuned)", "psnr", **_DIVAL), where="reports/ct_2d_dival",
    ),
    Reproduction(
        "CT, classical", "Baguer, Leuschner & Schmidt 2020 (dival Ellipses)", "as above; TV, weight tuned on validation",
        "PSNR (dB)", 27.96, "27.96", Check("abs", 0.5), from_store("ct_2d_dival", "TV (PDHG)", "psnr", **_DIVAL),
        where="reports/ct_2d_dival",
    ),
    Reproduction(
        "CT, learned", "Baguer, Leuschner & Schmidt 2020 (dival Ellipses)", "as above; learned GD (Adler & Öktem 2017), "
        "10 iterations", "PSNR (dB)", 30.30, "30.30", Check("abs", 0.5),
        from_store("ct_2d_dival", "learned GD", "psnr", **_DIVAL),
        budget="1200 steps at batch 5 on 2000 phantoms; published 50 000 at batch 32 on 32 000", where="reports/ct_2d_dival",
    ),
    Reproduction(
        "CT, learned", "Baguer, Leuschner & Schmidt 2020 (dival Ellipses)", "as above; learned PD (Adler & Öktem 2018), "
        "10 iterations, zero start", "PSNR (dB)", 32.27, "32.27", Check("abs", 0.5),
        from_store("ct_2d_dival", "learned PD (zero start)", "psnr", **_DIVAL),
        budget="1200 steps at batch 5 on 2000 phantoms; published 320 000 at batch 5 on 32 000", where="reports/ct_2d_dival",
    ),
    Reproduction(
        "CT, learned", "Baguer, Leuschner & Schmidt 2020 (dival Ellipses)", "as above; FBP + U-Net (Jin et al. 2017; dival's "
        "FBPUNet), residual U-Net on the FBP", "PSNR (dB)", 29.36, "29.36", Check("abs", 0.5),
        from_store("ct_2d_dival", "FBP + U-Net", "psnr", **_DIVAL),
        budget="1200 steps at batch 5 on 2000 phantoms, a 3-level 32-channel U-Net; published: dival's 5-scale U-Net trained "
               "for 250 epochs on 32 000", where="reports/ct_2d_dival",
    ),
    Reproduction(
        "CT, learned", "Baguer, Leuschner & Schmidt 2020 (dival Ellipses)", "as above; DIP+TV, an untrained U-Net fitted to "
        "each test image", "PSNR (dB)", 28.94, "28.94", Check("abs", 0.5),
        from_store("ct_2d_dival", "DIP+TV", "psnr", **_DIVAL),
        budget="none yet; published: a 5-scale 128-channel U-Net, 5000-10 000 iterations per image on a GPU",
        where="solvers/reconstruction/dip_tv.py",
        not_run="a 4-level 32-channel U-Net costs 0.22 s per iteration per 128² image on this 2-core CPU, so the published "
                "5000-10 000 iterations on 100 test images are 30-60 hours",
    ),
    Reproduction(
        "neural operator", "Li et al. 2021 (FNO), Burgers", "ν = 0.1, 1024 points, 1000 training instances",
        "rel L2", 1.8e-3, "0.0018 (ICLR 2021 table, as quoted)", Check("factor", 1.5),
        from_store("burgers_operator_1d", "FNO (paper recipe)", n_train=1000),
        budget=_fno_budget(40, 1000), where="reports/burgers_operator_1d",
    ),
    Reproduction(
        "neural operator", "Li et al. 2021 (FNO), 2D Navier–Stokes", "ν = 1e-3, T = 50, 64²; FNO-2D (here frames as "
        "channels in one pass; the paper's rolls out frame by frame)", "rel L2", 1.28e-2, "0.0128 (FNO-3D: 0.0086)",
        Check("factor", 1.5), from_store("navier_stokes_operator_2d", "FNO-2D, frames as channels (paper network and recipe)"),
        budget=_fno_budget(100, 200), where="reports/navier_stokes_operator_2d",
    ),
    Reproduction(
        "neural operator", "Li et al. 2021 (FNO), Darcy", "a = 12 / 3 thresholded GRF, 85², FNO-2D", "rel L2", 1.08e-2,
        "0.0108", Check("factor", 1.5), from_store("darcy_operator_2d", "FNO (paper recipe)"),
        budget=_fno_budget(150, 200), where="reports/darcy_operator_2d",
    ),
    Reproduction(
        "classical, turbulence", "McGreivy & Hakim 2024, Kolmogorov flow at Re = 1000", "pseudo-spectral against Kochkov's "
        "second-order finite volumes at equal correlation time (0.95); here finite volumes up to 256² on a 2-core CPU",
        "finite-volume / pseudo-spectral grid at equal accuracy", 8.0, "8 (512² spectral ≈ 4096² finite volume)",
        Check("at_least", 8.0), finite_volume_over_spectral, where="reports/kolmogorov_2d",
        not_run="finite volumes on 512² and finer: on the 2 shared cores a case with 1024² ran past its 90-minute limit and one up to "
                "512² was stopped after 40 minutes",
    ),
    Reproduction(
        "hybrid", "Kochkov et al. 2021, Kolmogorov flow at Re = 1000", "a learned model on a coarse finite-volume grid against "
        "finite volumes refined (correlation 0.95); here a learned correction (not Kochkov's learned interpolation) on 32²",
        "equal-accuracy finite-volume grid / the hybrid's grid", 10.0, "10 (64² learned ≈ 640² finite volume)", Check("at_least", 10.0),
        hybrid_gain("finite volume 32² + learned correction", "finite_volume", 32, as_resolution=True),
        budget="200 Adam steps at batch 4 on 8 trajectories (256² reference), a 32-channel CNN; published: 32 trajectories of "
               "2048² DNS, a 64-channel network trained for days on TPUs", where="reports/kolmogorov_2d_hybrid",
    ),
    Reproduction(
        "hybrid", "Dresdner et al. 2022, Kolmogorov flow at Re = 1000", "a learned correction on the pseudo-spectral solver "
        "against that solver on the same grid (here 32²)", "correlation time 0.95, corrected / uncorrected", 2.0,
        "2-4x more accurate at about 2x the cost", Check("at_least", 2.0),
        hybrid_gain("pseudo-spectral 32² + learned correction", "spectral", 32, as_resolution=False),
        budget="200 Adam steps at batch 4 on 8 trajectories, a 32-channel CNN; published: GPU training on long DNS trajectories",
        where="reports/kolmogorov_2d_hybrid",
    ),
    _sakov("square-root EnKF (ETKF, N = 24)", "the square-root EnKF with 24 members (ETKF), inflation tuned", 0.18, 0.03),
    _sakov("LETKF (N = 10, radius 4)", "the LETKF with 10 members, localisation radius 4, inflation tuned (DAPPER's suggested set-up)", 0.22, 0.03),
    _sakov("3D-Var (B = sC, s tuned)", "3D-Var with the climatological covariance scaled (DAPPER's xB = 0.02; here s tuned)", 0.41, 0.04),
    _sakov("optimal interpolation (3D-Var, B = C)", "optimal interpolation with the climatological covariance", 0.95, 0.1),
    _sakov("climatology", "the climatological mean", 3.6, 0.2),
)
