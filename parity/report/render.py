"""The report as Markdown text, and the same text as a standalone HTML page.

Markdown is the source of truth (readable in a terminal, diffable in git); the HTML is a
straight conversion of it, so the two can never disagree.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import markdown
import pandas as pd

from parity.report import analysis, assimilation, learned_priors, operator_learning
from parity.report.plots import Plot
from parity.report.text import eps_text, error_text, finite, pipe_table, seconds_text, times_text
from parity.report.verdict import Verdict

ENV_COLUMNS = {
    "versions.jax": "jax", "versions.equinox": "equinox", "versions.optax": "optax", "versions.numpy": "numpy",
    "versions.scipy": "scipy", "python": "python", "host": "host", "cpu_count": "CPUs", "device_kind": "device",
}
CONVENTIONS = (
    "Conventions: errors are relative L2 (and L1 norm) errors on held-out test points, never on training points. "
    "The cost of a SciML run includes setup, JIT compile and training time (evaluation excluded); "
    "the cost of a classical solve is its own time including setup, plus any one-off compile (FFCx forms; Devito operator construction and JIT, which is left out of each resolution's time as a modeller reuses one operator). "
    "Every statistic over seeds is the median with its min-max spread, never the best seed. "
    "Classical solvers are deterministic: one run each, whose trace is a refinement curve (one solve per resolution)."
)
INVERSE_CONVENTIONS = (
    "Images (CT, MRI): mean PSNR (dB), SSIM and NMSE over the held-out test images; PSNR and SSIM take each "
    "ground-truth image's range (max − min) as data range (dival's convention; the phantoms' minimum is 0, so it "
    "equals fastMRI's maximum of the volume); SSIM is scikit-image's, 7×7 window; NMSE = |x − x*|² / |x*|²; "
    "magnitude images for MRI. Velocity models (seismic FWI): relative L2 error, MAE (km/s) and SSIM (over each true "
    "model's range) of the velocity, averaged over the held-out test models, and the relative data misfit "
    "|F(c) − d_obs| / |d_obs| of the recovered model's own records (Devito on the inversion grid); wave solves count "
    "one forward and one adjoint per shot per misfit gradient, per inversion."
)
SCALING_CONVENTIONS = (
    "Series of the same configuration at several device counts (JAX devices for SciML solvers, MPI ranks for classical "
    "ones). Time: for SciML the training time of the run's optimiser steps (`train_s`: set-up and JIT compile excluded), "
    "for classical solvers the solve time (`solve_s`); the median over seeds (status ok only). Against the series' "
    "smallest device count N_base (1 unless a note says otherwise): strong scaling (the same problem on more devices) "
    "gives speed-up T(N_base) / T(N), ideally N / N_base, and parallel efficiency speed-up / (N / N_base), ideally 100%; "
    "weak scaling (work per device fixed, the problem growing with N) gives efficiency T(N_base) / T(N), ideally 1. "
    "Comm / step: bytes each device receives per optimiser step, read from the compiled program. Several JAX devices on "
    "a CPU are XLA-simulated and share the same cores: their timings are a correctness check, never a speed-up, and "
    "are shown without one. MPI ranks beyond the host's cores are marked oversubscribed."
)
QUALITY_HEADERS = {"psnr": ("PSNR (dB)", "{:.2f}"), "ssim": ("SSIM", "{:.3f}"), "nmse": ("NMSE", None), "hallucination": ("hallucination (%)", "{:.1f}"),
                   "rel_l2": ("velocity rel L2", "{:.4f}"), "mae": ("MAE (km/s)", "{:.3f}"), "data_misfit": ("data misfit", "{:.3f}")}
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 78em; padding: 0 1em; line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; height: auto; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def markdown_report(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame], plots: Mapping[str, Sequence[Plot]], title: str,
                    description: str, verdicts: Sequence[Verdict], trajectory_tables: Mapping[str, str] | None = None,
                    cost_tables: Mapping[str, str] | None = None) -> str:
    """The whole report as Markdown; ``plots`` maps each problem to its written figures, ``verdicts`` open it.

    ``trajectory_tables`` holds, per chaotic-trajectory problem, its correlation-time section (read from the traces);
    ``cost_tables``, per forward problem whose training counted its costs, the training-algorithm tables.
    """
    problems = list(runs["problem"].unique())
    inverse = [problem for problem in problems if analysis.is_inverse(runs[runs["problem"] == problem])]
    operators = [problem for problem in problems if operator_learning.is_operator(runs[runs["problem"] == problem])]
    assimilating = [problem for problem in problems if assimilation.is_assimilation(runs[runs["problem"] == problem])]
    forward = [problem for problem in problems if problem not in inverse and problem not in operators and problem not in assimilating]

    def section(heading: str, explanation: str, table: Callable[[pd.DataFrame], str], among: Sequence[str] = problems) -> list[str]:
        """A report section with one table per problem (none when no problem qualifies)."""
        if not among:
            return []
        out = [heading, explanation]
        for problem in among:
            out += [f"### {problem}", table(runs[runs["problem"] == problem])]
        return out

    parts = [_header(runs, title, description), _verdict_section(runs, verdicts), _parameters(runs)]
    parts += section(
        "## Reconstruction quality, cost and break-even",
        "Inverse problems: quality on the held-out test set, median [min–max] over seeds. "
        f"{INVERSE_CONVENTIONS} One-off cost: set-up + compile + training (learned) or tuning on the validation split "
        "(classical). Per image: the test set's reconstruction (or inversion) time divided by its size. Break-even: how many "
        "reconstructions a learned method needs before its extra one-off cost is repaid by faster reconstructions, "
        "against the best classical method at that setting (highest PSNR; lowest velocity rel L2 for FWI) "
        "('never' when it is not faster per image).",
        _reconstruction,
        inverse,
    )
    parts += section(
        "## The best method of each family of prior",
        "Per setting, the best method (highest median test PSNR) of each way of bringing prior knowledge in: classical "
        "(FBP, TV, zero-filling), unrolled optimisers, diffusion samplers, plug-and-play, post-processing, learned regulariser, deep image prior. "
        "Break-even against TV: how many reconstructions repay the method's extra one-off cost (a learned prior's "
        "training is charged to every method that uses it) by its saving per image; 'never' when it is not faster.",
        learned_priors.family_markdown,
        [problem for problem in inverse if learned_priors.family_markdown(runs[runs["problem"] == problem])],
    )
    parts += section(
        "## Robustness: the drop under a shifted test split",
        "Every method trained and tuned on the unshifted train and validation splits, then scored on test splits drawn "
        "differently: phantoms = random Shepp-Logan-like heads with lesions (a family no learned method saw), noise = "
        "twice the training noise, observations = fewer observations than trained and tuned for (a third of the CT angles, "
        "twice the MRI acceleration; the next section sets it beside the method trained for them). PSNR: the unshifted test "
        "split's; drops: unshifted minus shifted, median over seeds "
        "(positive = worse). A shifted split can be harder in itself (heads hold more structure than the training ellipses): the "
        "drop of the method with no prior (FBP, zero-filling) measures that, and a method's drop beyond it is what its prior "
        "lost. Hallucination: the share of the truth's flat pixels where the reconstruction shows an edge.",
        learned_priors.robustness_markdown,
        [problem for problem in inverse if learned_priors.robustness_markdown(runs[runs["problem"] == problem])],
    )
    parts += section(
        "## Fewer observations than trained for: what not retraining costs",
        "Each method trained and tuned at one setting, then given a test split with fewer observations (the same truths, "
        "measured at a third of the CT angles or twice the MRI acceleration) and reconstructing it with that split's own "
        "operator and its unchanged weights and settings; beside it, the same method trained and tuned for the sparser "
        "setting, on exactly that test split. A learned prior that is independent of the operator (diffusion, plug-and-play, "
        "a learned regulariser) should lose little; a network trained on one operator's reconstructions (post-processing, "
        "unrolled) may lose more.",
        learned_priors.fewer_observations_markdown,
        [problem for problem in inverse if learned_priors.fewer_observations_markdown(runs[runs["problem"] == problem])],
    )
    parts += section(
        "## Surrogates: accuracy, cost and break-even",
        OPERATOR_CONVENTIONS,
        lambda chosen: "\n\n".join(table for table in (operator_learning.surrogate_table(chosen, curves), operator_learning.extras_table(chosen),
                                                         operator_learning.classical_table(chosen, curves)) if table),
        operators,
    )
    parts += section(
        "## Chaotic trajectories: correlation time against cost",
        "For a chaotic flow a whole trajectory's error saturates once it has decorrelated, so each method is judged "
        "by how long its vorticity stays correlated with the reference's (Pearson correlation per frame, mean over the "
        "test trajectories; Kochkov et al. 2021's 0.95, and 0.8), linear between frames, the horizon when it never falls "
        "below. Spectrum error: mean |log10 E(k) / E_ref(k)| over the learning grid's shells below a third of it, the "
        "spectra averaged over the horizon's second half. Per time unit: seconds per simulated time unit and trajectory. "
        "The second table finds each pseudo-spectral grid's match among the finite-volume grids (log-linear between them).",
        lambda chosen: (trajectory_tables or {}).get(str(chosen["problem"].iloc[0]), ""),
        [problem for problem in operators if (trajectory_tables or {}).get(problem)],
    )
    parts += section(
        "## Assimilation: analysis error against cost",
        "Every method assimilated the same noisy observations of the same test truths with the same model and prior. "
        "A filter problem observes and scores every cycle, and an estimate may use no later observation; its analysis RMSE "
        "is the spatial RMSE at each cycle after the burn-in, averaged over cycles and test experiments (DAPPER's rmse.a). "
        "A window problem observes its first cycles and scores them (analysis RMSE) and the forecast after them (forecast "
        "RMSE), and the initial state's relative L2 error. Median [min–max] over seeds where the method is random. Tuned on "
        "validation: the setting each classical method chose by its validation experiments' RMSE. One-off: set-up, compile "
        "and that search (or shared training). Per experiment and per observed cycle: the test experiments' assimilation "
        "seconds (compiled, batched) divided by their number, and by the observed cycles; for a method fitted to each "
        "experiment (the PINN) its training seconds per experiment, which then are not one-off.",
        assimilation.markdown,
        assimilating,
    )
    parts += section(
        "## Time to accuracy",
        "Time (including setup and compile) until the relative L2 error on the test points first reaches ε: "
        "median over all seeds, a seed that never got there counting as infinitely slow (so the cell says "
        "'not reached' unless at least half of the seeds got there), with (k/n) how many of the n seeds did.",
        lambda chosen: _time_to_accuracy(chosen, curves),
        forward,
    )
    parts += section(
        "## Error at equal wall time",
        "Lowest relative L2 error reached within each cost budget (time including setup and compile); "
        "for classical solvers the best resolution whose solve fits in the budget. "
        "Median over seeds; (k/n) when only k of n seeds had a result by then, — when none had.",
        lambda chosen: _error_at_budget(chosen, curves),
        forward,
    )
    parts += section(
        "## Training algorithms on every cost axis",
        TRAINING_COSTS_EXPLANATION,
        lambda chosen: (cost_tables or {}).get(str(chosen["problem"].iloc[0]), ""),
        [problem for problem in forward if (cost_tables or {}).get(problem)],
    )
    parts += section(
        "## Final accuracy and cost",
        "Errors: median [min–max] over seeds. Times: median over seeds, in seconds; "
        "train / solve is training time for SciML and solve time for classical solvers.",
        _final,
    )
    ablation = analysis.ablation_table(runs)
    if len(ablation):
        parts += ["## Ablation of the training recipe", ABLATION_EXPLANATION]
        for problem, table in ablation.groupby("problem", sort=False):
            parts += [f"### {problem}", _ablation(table)]
    with_metrics = [problem for problem in forward if analysis.metric_columns(runs[runs["problem"] == problem])]
    if with_metrics:
        parts += ["## Problem-specific metrics", "Each problem's own measures of the final solution on the test points "
                  "(defined in the problem's module): median [min–max] over seeds."]
        for problem in with_metrics:
            parts += [f"### {problem}", _metrics(runs[runs["problem"] == problem])]
    scaling = {problem: analysis.scaling_table(runs[runs["problem"] == problem]) for problem in problems}
    scaling = {problem: table for problem, table in scaling.items() if len(table)}
    if scaling:
        parts += ["## Scaling with device count", SCALING_CONVENTIONS]
        for problem, table in scaling.items():
            parts += [f"### {problem}", _scaling(table)]
            parts += [_figure(p) for p in plots.get(problem, []) if is_scaling_plot(p)]
    parts.append("## Plots")
    for problem in problems:
        parts.append(f"### {problem}")
        parts += [_figure(p) for p in plots.get(problem, []) if not is_scaling_plot(p)] or ["No plots."]
    parts += ["## Failures", _failures(runs), "## Environment", _environment(runs)]
    return "\n\n".join(parts) + "\n"


OPERATOR_CONVENTIONS = (
    "Operator-learning problems: errors are the mean over the test instances of each instance's relative L2 error; surrogates "
    "median [min–max] over seeds (and their count). Per instance: the test set's prediction (or classical solve, in batches, compile "
    "excluded) time divided by its size. One-off: the classical solves that made the train and validation data, plus set-up, compile "
    "and training. Classical at that accuracy: the cheapest resolution of the classical refinement sweep whose error is at most the "
    "surrogate's median. Break-even: instances the surrogate must predict before its one-off cost is repaid by cheaper predictions "
    "('never' when it is not cheaper per instance; '—' when the classical sweep never reaches its accuracy). Trivial baselines: the "
    "train split's mean output, and the last input channel kept unchanged (persistence)."
)

TRAINING_COSTS_EXPLANATION = (
    "Each physics-informed method's final error at the sweep's budget, then the cost at which it first reached each target "
    "error on four axes: training seconds on this machine (compile excluded); gradient evaluations in fine-gradient "
    "equivalents (one whole-loss value and gradient; a subdomain's local evaluation counts its window's share of the "
    "points); global synchronisations (evaluations of the whole loss: one all-reduce each on several devices; local solves "
    "need none); and modelled seconds on P workers, P the most finest-level subdomains of any method of the setting "
    "(a model, not a measurement: global work split evenly over P, plus the slowest local solve of each sweep, plus 100 us "
    "per synchronisation, in units of the measured seconds of one whole-loss gradient of the method's network, the median over "
    "every run of that network, whatever its optimiser). Median over seeds, a seed "
    "that never reached the target counting as infinitely costly; (k/n) when only k of n seeds did."
)

VERDICT_EXPLANATION = {
    "forward": "Forward problems: the best method of a family has the lowest median final relative L2 error over seeds "
               "(a failed seed counting as the worst); its times to each ε and its errors within each cost budget are the "
               "medians of the tables below, and SciML time / classical time is their ratio at equal accuracy. Steps and "
               "training: the SciML method's median optimiser steps and training seconds.",
    "inverse": "Inverse problems: the best quality as the reconstruction table below ranks it (highest PSNR; lowest "
               "velocity rel L2 for FWI), the cost per reconstruction, the one-off cost, and the learned method's "
               "break-even against that classical method. Steps, training and training samples: the learned method's "
               "median optimiser steps and training seconds, and the problem's training-set size.",
    "operator": "Operator-learning problems: the surrogate with the lowest median test error, its cost per instance and one-off "
                "cost (data generation + training), against the classical refinement sweep's cheapest resolution at that accuracy.",
    "assimilation": "Assimilation problems: each family's method with the lowest median analysis RMSE, its seconds per experiment and "
                    "its one-off cost (set-up, compile, and tuning or training shared by all experiments).",
}


MEASURED_EXPLANATION = (
    "A line whose seconds (any seed of either method) were measured while other work shared the machine says so: its "
    "placement ran several cases at once, its run overlapped another of the report's, or it falls in a period known to have "
    "been shared (`parity.report.alone.SHARED`); no time ratio or break-even is drawn from such seconds. A floor row under a "
    "line is a method's modelling gap as its records state it: the error of the exact solution of the problem it was given, "
    "against the reference it is scored on."
)


def _verdict_section(runs: pd.DataFrame, verdicts: Sequence[Verdict]) -> str:
    """The report's opening: one verdict line per problem setting, then the numbers behind the lines."""
    if not verdicts:
        return ""
    parts = ["## Verdict"]
    for problem in runs["problem"].unique():
        chosen = [v for v in verdicts if v["problem"] == problem]
        grouped = runs[runs["problem"] == problem]
        parts += [f"### {problem}", "\n".join(verdict_bullets(v) for v in chosen)]
        if chosen and chosen[0]["kind"] == "inverse":
            parts.append(_inverse_verdict_table(grouped, chosen))
        elif chosen and chosen[0]["kind"] == "operator":
            parts.append("The numbers behind these lines are in the surrogates' table below.")
        elif chosen and chosen[0]["kind"] == "assimilation":
            parts.append("The numbers behind these lines are in the assimilation table below.")
        elif chosen:
            accuracy, cost = _forward_verdict_tables(grouped, chosen)
            parts += ["Equal accuracy: time to each ε, and SciML time / classical time.", accuracy,
                      "Equal cost: the lowest error reached within each cost budget.", cost]
    kinds = [kind for kind in VERDICT_EXPLANATION if any(v["kind"] == kind for v in verdicts)]
    explanation = " ".join(VERDICT_EXPLANATION[kind] for kind in kinds)
    return "\n\n".join([*parts, f"How the verdict is drawn: per problem and setting, the best classical method against the best SciML method. "
                                 f"{explanation} {MEASURED_EXPLANATION}"])


def verdict_bullets(verdict: Verdict) -> str:
    """The verdict line as a Markdown list item, with a floor row beneath it for each modelling gap."""
    return bullets(verdict_line(verdict), floor_rows(verdict))


def bullets(line: str, floors: Sequence[str]) -> str:
    """A verdict line and its floor rows as a Markdown list item with sub-items (the report's and the index's)."""
    return "\n".join([f"- {line}", *(f"  - {row}" for row in floors)])


def verdict_line(verdict: Verdict) -> str:
    """One factual sentence: the best classical method against the best SciML method at one setting.

    When any of its seconds were measured side by side it says so, and draws no ratio or break-even from them.
    """
    name = f"{verdict['problem']} {verdict['setting']}" if verdict["setting"] else verdict["problem"]
    clause_of = {"forward": _forward_clauses, "inverse": _inverse_clauses, "operator": operator_learning.clauses, "assimilation": assimilation.clauses}
    clauses = clause_of[verdict["kind"]](verdict)
    if not verdict["alone"]:
        clauses.append(f"{SIDE_BY_SIDE} ({verdict['side_by_side']}), so no time ratio or break-even is drawn from them")
    return f"{name}: {'; '.join(clauses)}."


SIDE_BY_SIDE = "seconds measured side by side"


def floor_rows(verdict: Verdict) -> list[str]:
    """'floor: <what>, rel L2 <value> (<method>)' for each side whose records name a modelling gap."""
    return [f"floor: {side['floor']['what']}, rel L2 {error_text(side['floor']['rel_l2'])} ({side['label']})"
            for _, side in _sides(verdict) if side.get("floor")]


def _forward_clauses(verdict: Verdict) -> list[str]:
    """Times to the headline ε (and their ratio), then errors at the largest budget both methods had a result by."""
    classical, sciml = verdict["classical"], verdict["sciml"]
    eps = verdict["headline_eps"]
    i = verdict["thresholds"].index(eps)
    clauses = [f"{classical['label']} {_reaches(classical['time_s'][i], eps)}" if classical else "no classical result"]
    if sciml is None:
        return [*clauses, "no SciML result"]
    reached = finite(sciml["time_s"][i])
    if classical is None or not reached:
        clauses.append(f"best SciML ({sciml['label']}) {_reaches(sciml['time_s'][i], eps)}")
    else:
        clauses.append(f"best SciML ({sciml['label']}) in {seconds_text(sciml['time_s'][i])}{_speed(verdict['time_ratio'][i])}")
    budget = verdict["headline_budget_s"]
    if finite(budget):
        j = verdict["budgets_s"].index(budget)
        clauses.append(f"at {seconds_text(budget)}, errors {error_text(classical['error'][j])} vs {error_text(sciml['error'][j])}")
    return clauses


def _inverse_clauses(verdict: Verdict) -> list[str]:
    """Each method's quality and cost per reconstruction, the learned method's training, and its break-even."""
    classical, sciml = verdict["classical"], verdict["sciml"]
    unit = _sample_unit(verdict)
    clauses = [f"{classical['label']} gets {_quality(classical, verdict)} at {seconds_text(classical['per_sample_s'])} per {unit}"
               if classical else "no classical result"]
    if sciml is None:
        return [*clauses, "no learned method"]
    clauses.append(f"best learned ({sciml['label']}) gets {_quality(sciml, verdict)} at {seconds_text(sciml['per_sample_s'])} per "
                   f"{unit} after {seconds_text(sciml['one_off_s'])} one-off{_training(sciml)}")
    if classical is not None and verdict["alone"]:
        after = _break_even(sciml["break_even"], unit)
        clauses.append(f"never repays its one-off cost (not faster per {unit})" if after == "never" else f"repays its extra one-off cost {after}")
    return clauses


def _forward_verdict_tables(runs: pd.DataFrame, verdicts: Sequence[Verdict]) -> tuple[str, str]:
    """Equal accuracy (times to each ε and their ratio) and equal cost (errors within each budget)."""
    thresholds, budgets = verdicts[0]["thresholds"], verdicts[0]["budgets_s"]
    accuracy, cost = [], []
    for v in verdicts:
        for family, side in _sides(v):
            method = _group_cells(runs, (v["problem"], v["setting"], f"{family}: {side['label']}"))
            times = [seconds_text(t) if finite(t) else "not reached" for t in side["time_s"]]
            budget = [_integer(side["steps"]), seconds_text(side["train_s"])] if family == "SciML" else ["—", "—"]
            accuracy.append([*method, error_text(side["final_rel_l2"]), *times, *budget])
            cost.append([*method, *map(error_text, side["error"])])
        if v["classical"] is not None and v["sciml"] is not None:
            accuracy.append([*_group_cells(runs, (v["problem"], v["setting"], "SciML time / classical time")), "", *_ratio_cells(v), "", ""])
    return (pipe_table([*_method_headers(runs), "final rel L2", *(f"ε = {eps:.0e}" for eps in thresholds), "steps", "training"], accuracy),
            pipe_table([*_method_headers(runs), *(f"error ≤ {seconds_text(b)}" for b in budgets)], cost))


def _ratio_cells(verdict: Verdict) -> list[str]:
    """SciML time / classical time per ε, or why there is none."""
    cells = []
    for eps, ratio, c, s in zip(verdict["thresholds"], verdict["time_ratio"], verdict["classical"]["time_s"], verdict["sciml"]["time_s"]):
        if not finite(s):
            cells.append(f"SciML never reached {eps_text(eps)}")
        elif not finite(c):
            cells.append(f"classical never reached {eps_text(eps)}")
        elif not verdict["alone"]:
            cells.append(f"withheld ({SIDE_BY_SIDE})")
        else:
            cells.append(f"{times_text(ratio)}×")
    return cells


def _inverse_verdict_table(runs: pd.DataFrame, verdicts: Sequence[Verdict]) -> str:
    """Quality, cost per reconstruction, one-off cost, break-even and training budget of the two best methods."""
    quality = verdicts[0]["quality"]
    unit = _sample_unit(verdicts[0])
    rows = []
    for v in verdicts:
        for family, side in _sides(v):
            learned = family == "SciML"
            break_even = _break_even(side["break_even"], unit) if learned and v["classical"] is not None and v["alone"] else "—"
            if learned and v["classical"] is not None and not v["alone"]:
                break_even = f"withheld ({SIDE_BY_SIDE})"
            budget = [_integer(side["steps"]), seconds_text(side["train_s"]), _integer(side["n_train"])] if learned else ["—"] * 3
            rows.append([*_group_cells(runs, (v["problem"], v["setting"], f"{family}: {side['label']}")),
                         *(_fixed(side[m], QUALITY_HEADERS[m][1]) for m in quality), seconds_text(side["per_sample_s"]),
                         seconds_text(side["one_off_s"]), f"never (not faster per {unit})" if break_even == "never" else break_even,
                         *budget])
    return pipe_table([*_method_headers(runs), *(QUALITY_HEADERS[m][0] for m in quality), f"per {unit}", "one-off", "break-even",
                       "steps", "training", "training samples"], rows)


def _sides(verdict: Verdict) -> list[tuple[str, Mapping[str, Any]]]:
    """(family name, numbers) of the verdict's methods, classical first; a family without a result is left out."""
    return [(family, side) for family, side in (("classical", verdict["classical"]), ("SciML", verdict["sciml"])) if side is not None]


def _method_headers(runs: pd.DataFrame) -> list[str]:
    return [*_group_headers(runs)[:-1], "method"]


def _training(side: Mapping[str, Any]) -> str:
    """The training budget a learned method used, as far as its records say: ' (800 steps, 303 s training, 1000 samples)'."""
    parts = [f"{side['steps']:.0f} steps" if finite(side["steps"]) else "",
             f"{seconds_text(side['train_s'])} training" if finite(side["train_s"]) and side["train_s"] > 0 else "",
             f"{side['n_train']:.0f} training samples" if finite(side["n_train"]) else ""]
    shown = [part for part in parts if part]
    return f" ({', '.join(shown)})" if shown else ""


def _speed(ratio: float) -> str:
    """SciML time / classical time in words: ' (24,000× slower)', ' (3× faster)', or '' when there is no ratio."""
    if not finite(ratio):
        return ""
    return f" ({times_text(ratio)}× slower)" if ratio >= 1 else f" ({times_text(1 / ratio)}× faster)"


def _reaches(seconds: float, eps: float) -> str:
    return f"reaches {eps_text(eps)} in {seconds_text(seconds)}" if finite(seconds) else f"never reaches {eps_text(eps)}"


def _quality(side: Mapping[str, Any], verdict: Verdict) -> str:
    """The ranking measure and SSIM, as the reconstruction table shows them."""
    shown = [m for m in verdict["quality"] if m in ("psnr", "rel_l2", "ssim")]
    texts = []
    for metric in shown:
        header, fmt = QUALITY_HEADERS[metric]
        name, _, unit = header.removesuffix(")").partition(" (")  # "PSNR (dB)" reads "PSNR 31.00 dB"
        texts.append(f"{name} {_fixed(side[metric], fmt)}{' ' + unit if unit else ''}")
    return ", ".join(texts)


def _break_even(images: float, unit: str) -> str:
    """When a learned method's extra one-off cost is repaid: 'after 2,039 images', 'from the first image' or 'never'."""
    if not finite(images):
        return "never"
    count = math.ceil(images)
    return f"from the first {unit}" if count == 0 else f"after {count:,} {unit}{'s' if count != 1 else ''}"


def _sample_unit(verdict: Verdict) -> str:
    """What one reconstruction is: an image, or a velocity model."""
    return "image" if "psnr" in verdict["quality"] else "model"


def _fixed(value: float, fmt: str | None) -> str:
    """``value`` in a quality measure's format (None: as an error, 1.23e-02)."""
    if fmt is None:
        return error_text(value)
    return fmt.format(value) if finite(value) else "—"


def is_scaling_plot(plot: Plot) -> bool:
    """Whether ``plot`` belongs in the scaling section (``plots.strong_scaling`` and ``plots.weak_scaling``)."""
    return plot.name.startswith("scaling_")


def _figure(plot: Plot) -> str:
    return f"![{plot.caption}]({plot.name})\n\n*{plot.caption}*"


def _scaling(table: pd.DataFrame) -> str:
    """One row per series and device count; simulated series show no speed-up, oversubscribed MPI rows say so."""
    headers = ["series", "devices", "device kind", "seeds", "time", "speed-up (strong) / efficiency (weak)",
               "parallel efficiency", "comm / step", "notes"]
    rows = []
    for _, r in table.iterrows():
        notes = [r["baseline_note"]] if r["baseline_note"] else []
        if r["scaling"] == "weak" and r["row_setting"]:
            notes.append(r["row_setting"])
        if r["simulated"]:
            cpus = f" sharing {r['cpu_count']:.0f} cores" if finite(r["cpu_count"]) and r["cpu_count"] > 0 else ""
            notes.append(f"XLA-simulated devices{cpus}")
        if r["oversubscribed"]:
            notes.append(f"oversubscribed ({r['device_count']} ranks > {r['cpu_count']:.0f} cores)")
        if r["series_simulated"]:
            gain, efficiency = "simulated — not a speed-up", "—"
        elif r["scaling"] == "strong":
            gain, efficiency = _ratio(r["speedup"], "×"), _percent(r["efficiency"])
        else:
            gain, efficiency = _ratio(r["efficiency"], ""), _percent(r["efficiency"])
        if r["device_count"] == r["baseline_count"] and not r["series_simulated"]:
            gain += " (baseline)"
        rows.append([analysis.series_name(r, with_device=False), r["device_count"], r["device_kind"] or "—", r["n"],
                     seconds_text(r["time_s"]) + ("" if r["time_from"] in ("train_s", "solve_s") else f" ({r['time_from']})"),
                     gain, efficiency, _bytes(r["comm_bytes_per_step"]), "; ".join(notes) or "—"])
    return pipe_table(headers, rows)


def _ratio(value: float, unit: str) -> str:
    return f"{value:.2f}{unit}" if finite(value) else "—"


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%" if finite(value) else "—"


def _bytes(value: float) -> str:
    """Bytes in B, kB, MB, GB (powers of 1000)."""
    if not finite(value):
        return "—"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def html_page(text: str, title: str) -> str:
    """``text`` (Markdown) converted to a self-contained HTML page."""
    body = markdown.markdown(text, extensions=["tables"])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _header(runs: pd.DataFrame, title: str, description: str) -> str:
    """Title, description, where and when the records were made, and how their seconds were measured."""
    problems = runs["problem"].unique()
    facts = (f"{len(runs)} records, {len(problems)} problem{'s' if len(problems) != 1 else ''}; "
             f"git commit {commits_text(runs)}; host {_distinct(runs['host'])}; device {_distinct(runs['device_kind'])}; "
             f"date {dates_text(runs)}.")
    parts = [f"# {title}", description.strip(), facts, side_by_side_text(runs)]
    return "\n\n".join(p for p in parts if p)


def _parameters(runs: pd.DataFrame) -> str:
    """The conventions, and each problem's varying and fixed parameters."""
    params = []
    for problem in runs["problem"].unique():
        chosen = runs[runs["problem"] == problem]
        fixed = ", ".join(f"{k}={analysis.param_text(v)}" for k, v in analysis.fixed_params(chosen).items()) or "none"
        varying = ", ".join(c.removeprefix(analysis.PARAM_PREFIX) for c in analysis.varying_params(chosen)) or "none"
        params.append(f"- `{problem}`: varying {varying}; fixed {fixed}")
    return "\n\n".join([CONVENTIONS, "Problem parameters:\n\n" + "\n".join(params)])


def commits_text(runs: pd.DataFrame) -> str:
    """The records' git commits (12 characters), and whether some had uncommitted changes."""
    commits = _distinct(runs["git_commit"].str[:12])
    if "git_dirty" in runs and runs["git_dirty"].fillna(False).astype(bool).any():
        commits += " (some with uncommitted changes)"
    return commits


def dates_text(runs: pd.DataFrame) -> str:
    """The day the records were made, or the first and last day."""
    dates = runs["created_utc"].dt.strftime("%Y-%m-%d")
    return dates.min() if dates.min() == dates.max() else f"{dates.min()} to {dates.max()}"


def side_by_side_text(runs: pd.DataFrame) -> str:
    """A warning for each number k of cases that ran side by side while records were measured ('' if none)."""
    return " ".join(f"{n} record{'s were' if n != 1 else ' was'} measured with {k} cases running side by side; "
                    "their seconds are not comparable with runs measured alone."
                    for k, n in analysis.side_by_side(runs).items())


def _time_to_accuracy(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> str:
    table = analysis.time_to_accuracy_table(runs, curves)

    def cell(row: pd.Series) -> str:
        if not finite(row["median_s"]):
            return f"not reached ({row['reached']}/{row['n']})"
        return f"{seconds_text(row['median_s'])} ({row['reached']}/{row['n']})"

    return _wide(runs, table, "eps", lambda eps: f"ε = {eps:.0e}", cell)


def _error_at_budget(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> str:
    budgets = analysis.budgets_for(curves[r] for r in runs["record_id"])
    table = analysis.error_at_budget_table(runs, curves, budgets)

    def cell(row: pd.Series) -> str:
        partial = f" ({row['available']}/{row['n']})" if 0 < row["available"] < row["n"] else ""
        return error_text(row["median"]) + partial

    return _wide(runs, table, "budget_s", lambda b: f"≤ {seconds_text(b)}", cell)


def _wide(runs: pd.DataFrame, long: pd.DataFrame, column: str, heading: Callable[[float], str], cell: Callable[[pd.Series], str]) -> str:
    """One row per group, one column per value of ``long[column]``."""
    keys = list(long[column].unique())
    rows = []
    for key, group in long.groupby(analysis.GROUP, sort=False):
        cells = dict(zip(group[column], group.apply(cell, axis=1)))
        rows.append([*_group_cells(runs, key), *(cells[k] for k in keys)])
    return pipe_table([*_group_headers(runs), *map(heading, keys)], rows)


def _final(runs: pd.DataFrame) -> str:
    table = analysis.final_table(runs)
    headers = [*_group_headers(runs), "seeds", "status", "rel L2 (test)", "L1 norm (test)", "setup", "compile",
               "train / solve", "inference", "steps", "steps/s", "n_params"]
    rows = []
    for _, r in table.iterrows():
        work = r["train_s"] if finite(r["train_s"]) and r["train_s"] > 0 else r["solve_s"]  # FWI records train_s = 0
        rows.append([
            *_group_cells(runs, tuple(r[analysis.GROUP])), r["n"], _statuses(r["statuses"]),
            _spread(r, "rel_l2"), _spread(r, "norm_l1"), seconds_text(r["setup_s"]), seconds_text(r["compile_s"]),
            seconds_text(work), seconds_text(r["inference_s"]), _integer(r["steps"]), _integer(r["steps_per_s"]),
            _integer(r["info.n_params"]),
        ])
    return pipe_table(headers, rows)


def _reconstruction(runs: pd.DataFrame) -> str:
    table = analysis.reconstruction_table(runs)
    quality = analysis.reconstruction_quality(runs)
    with_solves = bool(table["wave_solves"].notna().any())
    headers = [*_group_headers(runs), "seeds", *(QUALITY_HEADERS[m][0] for m in quality), "one-off", "per image",
               *(["wave solves / image"] if with_solves else []), "break-even"]
    rows = []
    for _, r in table.iterrows():
        if r["family"] == "classical" or not r["versus"]:
            break_even = "—"
        elif math.isinf(r["break_even"]):
            break_even = f"never (not faster than {r['versus']})"
        else:
            break_even = f"{math.ceil(r['break_even'])} images (vs {r['versus']})"
        cells = [_spread(r, m) if QUALITY_HEADERS[m][1] is None else _spread_fixed(r, m, QUALITY_HEADERS[m][1]) for m in quality]
        solves = [_integer(r["wave_solves"]) if finite(r["wave_solves"]) else "—"] if with_solves else []
        rows.append([*_group_cells(runs, tuple(r[analysis.GROUP])), r["n"], *cells, seconds_text(r["one_off_s"]),
                     seconds_text(r["per_image_s"]), *solves, break_even])
    return pipe_table(headers, rows)


def _spread_fixed(row: pd.Series, col: str, fmt: str) -> str:
    median, low, high = row[col], row[f"{col}_min"], row[f"{col}_max"]
    if not finite(median):
        return "—"
    return fmt.format(median) if low == high else f"{fmt.format(median)} [{fmt.format(low)}–{fmt.format(high)}]"


ABLATION_EXPLANATION = (
    "Each row is the full recipe, the plain network, or the recipe with one ingredient removed (or added), all with the same "
    "budget. Error: final relative L2 on the test points, median [min–max] over seeds; × recipe: that median over the full "
    "recipe's (above 1: the change hurt, so the removed ingredient helps). ms/step: median training time per optimiser "
    "step, loss-weight updates and resampling included; × plain: over the plain network of the same width and depth."
)


def _ablation(table: pd.DataFrame) -> str:
    headers = ["setting", "label", "ingredients", "rel L2 (test)", "× recipe", "steps", "ms/step", "× plain"]
    rows = [[
        r["setting"] or "—", r["label"], r["ingredients"], _spread(r, "rel_l2"), _fixed(r["vs_recipe"], "{:.2f}"),
        _integer(r["steps"]), _fixed(r["ms_per_step"], "{:.1f}"), _fixed(r["cost_vs_plain"], "{:.2f}"),
    ] for _, r in table.iterrows()]
    return pipe_table(headers, rows)


def _metrics(runs: pd.DataFrame) -> str:
    columns = analysis.metric_columns(runs)
    table = analysis.final_table(runs)
    rows = [[*_group_cells(runs, tuple(r[analysis.GROUP])), *(_spread(r, c) for c in columns)] for _, r in table.iterrows()]
    return pipe_table([*_group_headers(runs), *(c.removeprefix(analysis.METRIC_PREFIX) for c in columns)], rows)


def _failures(runs: pd.DataFrame) -> str:
    failed = analysis.failures(runs)
    if failed.empty:
        return "None: every run finished with status ok."
    rows = [[r["problem"], r["setting"] or "—", r["label"], int(r["seed"]) if finite(r["seed"]) else "—", r["status"], r["first_line"] or "—"]
            for _, r in failed.iterrows()]
    return pipe_table(["problem", "parameters", "label", "seed", "status", "message"], rows)


def _environment(runs: pd.DataFrame) -> str:
    columns = [c for c in ENV_COLUMNS if c in runs]
    envs = runs[columns].astype(str).replace({"nan": "—", "": "—"}).value_counts(sort=False).reset_index()
    rows = [[*r[columns], r["count"]] for _, r in envs.iterrows()]
    return pipe_table([*(ENV_COLUMNS[c] for c in columns), "records"], rows)


def _group_headers(runs: pd.DataFrame) -> list[str]:
    return ["parameters", "label"] if runs["setting"].ne("").any() else ["label"]


def _group_cells(runs: pd.DataFrame, key: tuple[str, str, str]) -> list[str]:
    _, setting, label = key
    return [setting, label] if runs["setting"].ne("").any() else [label]


def _spread(row: pd.Series, col: str) -> str:
    median, low, high = row[col], row[f"{col}_min"], row[f"{col}_max"]
    if not finite(median) or low == high:
        return error_text(median)
    return f"{error_text(median)} [{error_text(low)}–{error_text(high)}]"


def _statuses(counts: Mapping[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] != "ok", -kv[1], kv[0]))
    return ", ".join(f"{n} {status}" for status, n in ordered)


def _integer(value: float) -> str:
    return f"{value:.0f}" if finite(value) else "—"


def _distinct(values: pd.Series) -> str:
    names = sorted({v for v in values if v}) or ["unknown"]
    return ", ".join(names)
