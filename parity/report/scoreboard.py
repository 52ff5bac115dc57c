"""The scoreboard: every compared problem setting of every committed report in one table and one figure.

Read off the verdicts (``verdict.json``, written by ``write_report`` from ``parity.report.verdict``),
so the scoreboard and the reports cannot disagree. Each row sets the best classical method
against the best SciML method at *equal accuracy*:

- forward problems at ε, the tightest threshold both methods reach; where SciML reaches none
  that the classical method reaches, SciML "does not reach ε" (ε the loosest threshold) and the
  classical method wins; otherwise the faster one to ε wins;
- inverse problems at the classical method's quality: a learned method below it does not reach
  it (classical wins); at or above it, it wins, and its break-even says after how many
  reconstructions its one-off cost is repaid;
- operator learning at the surrogate's accuracy: the cheapest classical resolution that reaches
  it; the surrogate wins where the classical scheme does not reach it or costs more per instance.

A winner that rests on seconds measured side by side (``verdict["alone"]`` false) is marked † and
stands only where the seconds differ by more than ``INFLATION``, more than sharing the machine
inflated any committed timing; the ratio and break-even themselves are withheld.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parity.report.text import eps_text, error_text, finite, pipe_table, seconds_text, times_text

INFLATION = 3.0
"""The most that sharing the machine inflated a committed timing (TV on dival's CT setting: 4.36 s against 1.49 s alone at the same size)."""
FLAG = "†"
FLAG_NOTE = (f"{FLAG} seconds measured side by side with other work (see the report's verdict line): no ratio or break-even is drawn "
             f"from them, and the winner stands only where the two methods' seconds differ by more than {INFLATION:g}×; else 'rerun alone'.")
HEADERS = ["#", "problem", "setting", "best classical", "best SciML", "ratio at equal accuracy or break-even", "winner"]
FIGURE = "scoreboard.png"
KINDS = {"forward": "forward (PDEs, ODEs)", "inverse": "inverse (CT, MRI, FWI)", "operator": "operator learning", "assimilation": "assimilation"}


def rows(entries: Sequence[Mapping[str, Any]], page: str) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per verdict with both a classical and a SciML side, and the names of the settings left out (and why)."""
    out: list[dict[str, Any]] = []
    left_out: list[str] = []
    for entry in entries:
        for verdict in entry["verdicts"]:
            if "kind" not in verdict:
                continue  # a page of published figures (reproductions), not a comparison
            name = f"{entry['name']}: {verdict['problem']} {verdict['setting']}".strip()
            if verdict["classical"] is None or verdict["sciml"] is None:
                left_out.append(f"{name} (no {'classical' if verdict['classical'] is None else 'SciML'} result)")
                continue
            row = {"forward": _forward, "inverse": _inverse, "operator": _operator, "assimilation": _assimilation}[verdict["kind"]](verdict)
            out.append({**row, "kind": verdict["kind"], "report": entry["name"], "problem": verdict["problem"],
                        "setting": verdict["setting"], "link": f"{entry['name']}/{page}", "alone": _alone(verdict)})
    out.sort(key=lambda row: list(KINDS).index(row["kind"]))  # stable: reports stay in order within a kind
    return [{**row, "number": number} for number, row in enumerate(out, start=1)], left_out


def table(board: Sequence[Mapping[str, Any]]) -> str:
    """The scoreboard as a Markdown table."""
    cells = [[row["number"], f"[{row['report']}]({row['link']})" + (f" ({row['problem']})" if row["problem"] != row["report"] else ""),
              row["setting"] or "—", row["classical"], row["sciml"], row["ratio"], row["winner"]] for row in board]
    return pipe_table(HEADERS, cells)


def headline(board: Sequence[Mapping[str, Any]]) -> str:
    """Per kind of problem: how many settings, how many each family wins, and the SciML / classical seconds at ε
    where both reach it and the seconds were measured alone."""
    cells = []
    for kind, name in KINDS.items():
        chosen = [row for row in board if row["kind"] == kind]
        if not chosen:
            continue
        sides = [winner_side(row["winner"]) for row in chosen]
        ratios = [row["sciml_s"] / row["classical_s"] for row in chosen
                  if kind == "forward" and row["alone"] and finite(row["sciml_s"]) and finite(row["classical_s"])]
        spread = f"SciML {times_text(min(ratios))}× to {times_text(max(ratios))}× slower" if ratios and min(ratios) >= 1 else "—"
        short = sum(not row["reaches"] for row in chosen) if kind != "operator" else "—"  # assimilation: SciML's RMSE above classical's
        cells.append([name, len(chosen), sides.count("classical"), sides.count("SciML"),
                      len(chosen) - sides.count("classical") - sides.count("SciML"), short, spread])
    return pipe_table(["problems", "settings", "classical wins", "SciML wins", "undecided",
                       "SciML short of the classical accuracy", "seconds at equal accuracy (measured alone)"], cells)


def winner_side(winner: str) -> str:
    """'classical', 'SciML' (a learned method or surrogate too) or '' (undecided) from a winner cell."""
    first = winner.split(" ")[0].rstrip(",")
    return {"classical": "classical", "SciML": "SciML", "learned": "SciML"}.get(first, "")


def _alone(verdict: Mapping[str, Any]) -> bool:
    """Whether the verdict's seconds were all measured alone (a verdict file from before the check says nothing: not known alone)."""
    return bool(verdict.get("alone", False))


def _flag(verdict: Mapping[str, Any]) -> str:
    return "" if _alone(verdict) else FLAG


def _decided(seconds_ratio: float, verdict: Mapping[str, Any], slower: str, faster: str) -> str:
    """The winner by time (``seconds_ratio`` = SciML / classical), or 'rerun alone' where side-by-side seconds cannot decide."""
    winner = slower if seconds_ratio > 1 else faster
    if _alone(verdict):
        return winner
    return f"{winner} {FLAG}" if max(seconds_ratio, 1 / seconds_ratio) > INFLATION else f"rerun alone {FLAG}"


def _forward(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """At the tightest ε both reach: their times, SciML / classical, and the faster; else SciML does not reach ε."""
    classical, sciml, thresholds = verdict["classical"], verdict["sciml"], verdict["thresholds"]
    both = [i for i, (c, s) in enumerate(zip(classical["time_s"], sciml["time_s"])) if finite(c) and finite(s)]
    floor = f", floor {error_text(sciml['floor']['rel_l2'])}" if sciml.get("floor") else ""
    row = {"eps": math.nan, "classical_s": math.nan, "sciml_s": math.nan, "reaches": bool(both)}
    if not both:
        reached = [i for i, c in enumerate(classical["time_s"]) if finite(c)]
        i = reached[0] if reached else 0
        row.update(eps=thresholds[i], classical_s=classical["time_s"][i])
        return {**row, "classical": f"{classical['label']}: {eps_text(thresholds[i])} in {seconds_text(classical['time_s'][i])}{_flag(verdict)}",
                "sciml": f"{sciml['label']}: does not reach {eps_text(thresholds[i])} (final {error_text(sciml['final_rel_l2'])}{floor})",
                "ratio": "—", "winner": "classical" if reached else "neither reaches ε"}
    i = both[-1]
    c, s = classical["time_s"][i], sciml["time_s"][i]
    row.update(eps=thresholds[i], classical_s=c, sciml_s=s)
    ratio = verdict["time_ratio"][i]
    return {**row, "classical": f"{classical['label']}: {eps_text(thresholds[i])} in {seconds_text(c)}{_flag(verdict)}",
            "sciml": f"{sciml['label']}: {eps_text(thresholds[i])} in {seconds_text(s)}{_flag(verdict)} (final {error_text(sciml['final_rel_l2'])}{floor})",
            "ratio": _ratio_text(ratio) if finite(ratio) else f"withheld {FLAG}",
            "winner": _decided(s / c, verdict, "classical", "SciML")}


def _ratio_text(ratio: float) -> str:
    """SciML seconds / classical seconds in words: 'SciML 670× slower', 'SciML 7.1× faster'."""
    return f"SciML {times_text(ratio)}× slower" if ratio >= 1 else f"SciML {times_text(1 / ratio)}× faster"


def _inverse(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """At the classical method's quality: the learned method reaches it or not; its cost per sample and break-even."""
    classical, sciml = verdict["classical"], verdict["sciml"]
    psnr = "psnr" in verdict["quality"]
    unit = "image" if psnr else "model"
    gain = quality_gain_db(verdict)

    def quality(side: Mapping[str, Any]) -> str:
        return f"PSNR {side['psnr']:.2f} dB" if psnr else f"velocity rel L2 {side['rel_l2']:.4f}"

    per_sample = f"{seconds_text(classical['per_sample_s'])} / {unit}{_flag(verdict)}"
    row = {"gain_db": gain, "cost_ratio": sciml["per_sample_s"] / classical["per_sample_s"], "reaches": gain >= 0}
    cells = {"classical": f"{classical['label']}: {quality(classical)}, {per_sample}",
             "sciml": f"{sciml['label']}: {quality(sciml)}, {seconds_text(sciml['per_sample_s'])} / {unit}{_flag(verdict)} "
                      f"after {seconds_text(sciml['one_off_s'])} one-off"}
    if gain < 0:
        return {**row, **cells, "ratio": f"does not reach {classical['label']}'s quality ({gain:+.2f} dB)", "winner": "classical"}
    repaid = sciml["break_even"]
    if not _alone(verdict):
        ratio, winner = f"break-even withheld {FLAG}", f"learned {FLAG}"
    elif not finite(repaid):
        ratio, winner = f"never repays its one-off cost (not faster per {unit})", "learned (quality only)"
    else:
        ratio, winner = f"break-even after {math.ceil(repaid):,} {unit}s", f"learned after {math.ceil(repaid):,} {unit}s"
    return {**row, **cells, "ratio": f"{ratio} ({gain:+.2f} dB)", "winner": winner}


def _operator(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """At the surrogate's accuracy: the cheapest classical resolution that reaches it, per instance, and the break-even."""
    classical, sciml = verdict["classical"], verdict["sciml"]
    row = {"classical_s": sciml["classical_instance_s"], "sciml_s": sciml["instance_s"], "reaches": True}
    surrogate = (f"{sciml['label']}: {error_text(sciml['rel_l2'])}, {seconds_text(sciml['instance_s'])} / instance{_flag(verdict)} "
                 f"after {seconds_text(sciml['one_off_s'])} one-off")
    if not finite(sciml["classical_rel_l2"]):
        return {**row, "classical": f"{classical['label']}: best {error_text(classical['finest_rel_l2'])}, does not reach it",
                "sciml": surrogate, "ratio": "—", "winner": "SciML (classical does not reach its accuracy)"}
    matched = (f"{classical['label']} at {sciml['classical_resolution']:.0f}: {error_text(sciml['classical_rel_l2'])}, "
               f"{seconds_text(sciml['classical_instance_s'])} / instance{_flag(verdict)}")
    per_instance = sciml["instance_s"] / sciml["classical_instance_s"]
    if per_instance >= 1:
        ratio = f"surrogate {times_text(per_instance)}× slower per instance: never repays its one-off cost"
        return {**row, "classical": matched, "sciml": surrogate, "ratio": ratio if _alone(verdict) else f"withheld {FLAG}",
                "winner": _decided(per_instance, verdict, "classical", "SciML")}
    repaid = sciml["break_even"]
    if not _alone(verdict):
        ratio, winner = f"break-even withheld {FLAG}", _decided(per_instance, verdict, "classical", "SciML after its break-even")
    else:
        ratio, winner = f"break-even after {math.ceil(repaid):,} instances", f"SciML after {math.ceil(repaid):,} instances"
    return {**row, "classical": matched, "sciml": surrogate, "ratio": ratio, "winner": winner}


def _assimilation(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The two analysis RMSEs and seconds per experiment; the more accurate side wins where it is also no slower, else undecided."""
    classical, sciml = verdict["classical"], verdict["sciml"]
    cells = {side: f"{entry['label']}: RMSE {error_text(entry['rmse'])}, {seconds_text(entry['experiment_s'])} / experiment{_flag(verdict)}"
             for side, entry in (("classical", classical), ("sciml", sciml))}
    error_ratio, time_ratio = sciml["rmse"] / classical["rmse"], sciml["experiment_s"] / classical["experiment_s"]
    ratio = f"SciML's RMSE {times_text(error_ratio)}×, its seconds {times_text(time_ratio)}×" if _alone(verdict) else f"SciML's RMSE {times_text(error_ratio)}×"
    if error_ratio >= 1:
        winner = "classical (more accurate)"
    elif time_ratio <= 1 or not _alone(verdict) and time_ratio < INFLATION:
        winner = "SciML (more accurate)" if time_ratio <= 1 else f"rerun alone {FLAG}"
    else:
        winner = "undecided: SciML more accurate, classical cheaper"
    return {**cells, "ratio": ratio, "winner": winner, "reaches": error_ratio <= 1, "classical_s": classical["experiment_s"],
            "sciml_s": sciml["experiment_s"], "classical_rmse": classical["rmse"], "sciml_rmse": sciml["rmse"]}


def quality_gain_db(verdict: Mapping[str, Any]) -> float:
    """The learned method's quality over the classical one's in dB: the PSNR difference, or 20 log10 of the error ratio
    (velocity rel L2), which is the same measure for errors of one normalisation."""
    classical, sciml = verdict["classical"], verdict["sciml"]
    if "psnr" in verdict["quality"]:
        return float(sciml["psnr"] - classical["psnr"])
    return float(20 * math.log10(classical["rel_l2"] / sciml["rel_l2"]))


def _assimilation_panel(ax: Any, rows_: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """SciML's analysis RMSE against the classical method's (log-log, diagonal)."""
    low, high = _decades([e for row in rows_ for e in (row["classical_rmse"], row["sciml_rmse"])])
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    points = [_point(ax, row["classical_rmse"], row["sciml_rmse"], row, "C3") for row in rows_]
    ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high), xlabel="classical: analysis RMSE",
           ylabel="SciML: analysis RMSE", title="Assimilation: analysis RMSE\n(above the line: classical better)")
    return points


def figure(board: Sequence[Mapping[str, Any]], out_dir: Path) -> str | None:
    """scoreboard.png: forward settings (time to ε, SciML against classical) across the top; below, inverse settings (quality
    gain against cost per sample) and operator settings (cost per instance at equal accuracy); points numbered as table rows."""
    import matplotlib.pyplot as plt

    panels = [(kind, [row for row in board if row["kind"] == kind]) for kind in ("forward", "inverse", "operator", "assimilation")]
    panels = [(kind, chosen) for kind, chosen in panels if chosen]
    if not panels:
        return None
    below = [panel for panel in panels if panel[0] != "forward"]
    top = len(panels) - len(below)
    fig = plt.figure(figsize=(max(12, 5.2 * len(below)), 5.6 * top + 5.2 * bool(below)))  # room for each lower panel's title
    grid = fig.add_gridspec(top + bool(below), max(len(below), 1))
    axes = ([fig.add_subplot(grid[0, :])] if top else []) + [fig.add_subplot(grid[top, i]) for i in range(len(below))]
    labels: list[tuple[Any, list[tuple[float, float, str]]]] = []
    for ax, (kind, chosen) in zip(axes, panels):
        points = {"forward": _forward_panel, "inverse": _inverse_panel, "operator": _operator_panel, "assimilation": _assimilation_panel}[kind](ax, chosen)
        ax.grid(True, which="major", alpha=0.3)
        labels.append((ax, points))
    handles = [plt.Line2D([], [], marker="o", linestyle="", color="grey", label="seconds measured alone"),
               plt.Line2D([], [], marker="o", linestyle="", color="grey", markerfacecolor="none", label=f"measured side by side ({FLAG})")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    for ax, points in labels:
        _number(ax, points)
    fig.savefig(out_dir / FIGURE, dpi=100)
    plt.close(fig)
    return FIGURE


_OFFSETS = ((6, 4), (6, -13), (-15, 4), (-15, -13), (-4, 10), (-4, -20), (12, -4), (-22, -4), (10, 14), (-20, 14), (10, -24), (-20, -24))
"""Where a point's number may go, in points from the marker, tried in turn until one overlaps nothing placed."""


def _number(ax: Any, points: Sequence[tuple[float, float, str]]) -> None:
    """Each point's number beside it, where it overlaps no marker and no other number (the first free place)."""
    scale = ax.figure.dpi / 72
    centres = [ax.transData.transform((x, y)) for x, y, _ in points]
    taken = [(cx - 6, cy - 6, cx + 6, cy + 6) for cx, cy in centres]
    for (x, y, text), (cx, cy) in zip(points, centres):
        width, height = 6.5 * len(text) * scale, 9 * scale
        boxes = [(cx + dx * scale, cy + dy * scale, cx + dx * scale + width, cy + dy * scale + height) for dx, dy in _OFFSETS]
        free = [box for box in boxes if not any(_overlap(box, other) for other in taken)]
        chosen = (free or boxes)[0]
        taken.append(chosen)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=((chosen[0] - cx) / scale, (chosen[1] - cy) / scale), fontsize=9)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _point(ax: Any, x: float, y: float, row: Mapping[str, Any], colour: str, marker: str = "o") -> tuple[float, float, str]:
    """A setting's marker, hollow where its seconds were measured side by side; returns where its number goes."""
    ax.plot([x], [y], marker=marker, markersize=9, linestyle="", color=colour, markerfacecolor=colour if row["alone"] else "none",
            markeredgewidth=1.6)
    return x, y, str(row["number"])


def _decades(values: Sequence[float]) -> tuple[float, float]:
    """The powers of ten around ``values``."""
    logs = [math.log10(v) for v in values if finite(v) and v > 0]
    return 10.0 ** math.floor(min(logs)), 10.0 ** math.ceil(max(logs))


def _forward_panel(ax: Any, rows_: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """SciML time to ε against classical time to ε, log-log, with lines of equal time and 10x, 100x, ... slower;
    settings SciML never reaches sit on the top edge."""
    colours = {0.1: "C3", 0.01: "C1", 0.001: "C0"}
    xlow, xhigh = _decades([row["classical_s"] for row in rows_])
    ylow, yhigh = _decades([row["sciml_s"] for row in rows_] + [1.0])
    yhigh *= 20  # room for the settings SciML never reaches
    for power in range(0, 7):
        factor = 10.0 ** power
        ax.plot([xlow, xhigh], [xlow * factor, xhigh * factor], color="grey", linewidth=1 if power == 0 else 0.6,
                linestyle="-" if power == 0 else ":")
        x = max(ylow * 1.3 / factor, xlow * 1.3)  # where the line enters the panel, bottom or left
        if x < xhigh and x * factor < yhigh / 10:
            ax.annotate("equal time" if power == 0 else f"{factor:,.0f}× slower", (x, x * factor), fontsize=8, color="grey")
    points = [_point(ax, row["classical_s"], row["sciml_s"], row, colours.get(row["eps"], "C2")) for row in rows_ if finite(row["sciml_s"])]
    never = sorted((row for row in rows_ if not finite(row["sciml_s"])), key=lambda row: row["classical_s"])
    points += [_point(ax, row["classical_s"], yhigh / (1.6 if i % 2 else 3.2), row, colours.get(row["eps"], "C2"), marker="^")
               for i, row in enumerate(never)]  # staggered, so that neighbours' numbers stay apart
    ax.axhline(yhigh / 5, color="grey", linewidth=0.6)
    ax.text(xlow * 1.3, yhigh / 4.5, "SciML does not reach ε:", fontsize=8, color="grey", va="bottom")
    ax.set(xscale="log", yscale="log", xlim=(xlow, xhigh), ylim=(ylow, yhigh), xlabel="classical: seconds to ε",
           ylabel="SciML: seconds to ε", title="Forward problems: seconds to the same accuracy ε\n(above the solid line the classical method is faster)")
    for eps, colour in colours.items():
        ax.plot([], [], marker="o", linestyle="", color=colour, label=f"ε = {eps_text(eps)}")
    ax.plot([], [], marker="^", linestyle="", color="grey", label="SciML does not reach ε (top band; x: classical seconds to ε)")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.8), fontsize=9)  # below the top band, clear of the points
    return points


def _inverse_panel(ax: Any, rows_: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """Learned cost per sample / classical against the learned method's quality gain (dB): right and down is better for it."""
    points = [_point(ax, row["gain_db"], row["cost_ratio"], row, "C4") for row in rows_]
    span = max(1.0, *(abs(row["gain_db"]) for row in rows_)) * 1.2
    low, high = _decades([row["cost_ratio"] for row in rows_] + [1.0])
    high *= 10  # room above the line of equal cost
    ax.axvline(0, color="grey", linewidth=1)
    ax.axhline(1, color="grey", linewidth=1)
    for x, y, text, ha in ((0.03, 0.97, "classical better\nand cheaper", "left"), (0.97, 0.03, "learned better\nand cheaper", "right")):
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va="top" if y > 0.5 else "bottom", fontsize=8, color="grey")
    ax.set(yscale="log", xlim=(-span, span), ylim=(low, high), xlabel="learned quality − classical quality (dB)",
           ylabel="learned / classical seconds per sample", title="Inverse problems: quality and\nseconds per sample, learned against classical")
    return points


def _operator_panel(ax: Any, rows_: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """Surrogate seconds per instance against the classical scheme's at the surrogate's accuracy (log-log, diagonal)."""
    low, high = _decades([t for row in rows_ for t in (row["classical_s"], row["sciml_s"])])
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    points = [_point(ax, row["classical_s"] if finite(row["classical_s"]) else high / 2, row["sciml_s"], row, "C2",
                     marker="o" if finite(row["classical_s"]) else ">") for row in rows_]
    ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high), xlabel="classical: seconds per instance at equal accuracy",
           ylabel="surrogate: seconds per instance", title="Operator learning: seconds per instance\nat equal accuracy (above the line: classical cheaper)")
    return points
