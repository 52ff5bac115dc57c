"""The device check's report: per SciML solver, steps per second, achieved FLOP/s against the device's peak, peak memory.

Achieved FLOP/s is XLA's count of one optimiser step of one device's program
(``info.flops_per_step``) times the steps per second of training: what the program asks
of the device, not a hardware counter. On GPUs from Ampere on, XLA runs float32 matrix
products and convolutions on TF32 tensor cores by default, so both peaks are given; the
FP32 (non-tensor) one bounds elementwise-heavy programs such as PINN residuals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from parity.report import index, render

PEAK_TFLOPS: tuple[tuple[str, float, float | None], ...] = (
    # (device-kind substring, FP32 TFLOP/s, dense TF32 tensor-core TFLOP/s), from NVIDIA's data sheets; first match wins
    ("H100 PCIe", 51.2, 378.0),
    ("H100 NVL", 60.0, 417.5),
    ("H100", 67.0, 494.7),
    ("H200", 67.0, 494.7),
    ("GH200", 67.0, 494.7),
    ("A100", 19.5, 156.0),
    ("L40S", 91.6, 183.0),
    ("L4", 30.3, 60.0),
    ("V100", 15.7, None),
)


def device_peaks(device_kind: str) -> tuple[float | None, float | None]:
    """The device's FP32 and TF32 peaks in FLOP/s, or None where the kind is not in the table (CPUs)."""
    for name, fp32, tf32 in PEAK_TFLOPS:
        if name.lower() in device_kind.lower():
            return fp32 * 1e12, None if tf32 is None else tf32 * 1e12
    return None, None


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """One record's row: the measured rates, and their share of the device's peaks where those are known."""
    flops = (record.get("info") or {}).get("flops_per_step")
    rate = record.get("steps_per_s")
    achieved = flops * rate if flops and rate else None
    fp32, tf32 = device_peaks(record.get("device_kind") or "")
    return {
        "label": record["label"], "status": record["status"], "devices": record.get("device_count", 1),
        "simulated": bool(record.get("devices_simulated")), "device_kind": record.get("device_kind") or "",
        "steps": record.get("steps"), "steps_per_s": rate, "gflop_per_step": flops / 1e9 if flops else None,
        "tflops_per_device": achieved / 1e12 if achieved else None,
        "fp32_share": achieved / fp32 if achieved and fp32 else None,
        "tf32_share": achieved / tf32 if achieved and tf32 else None,
        "peak_device_mb": record.get("peak_device_mb"), "peak_rss_mb": record.get("peak_rss_mb"),
        "compile_s": record.get("compile_s"), "train_s": record.get("train_s"), "message": record.get("message", ""),
    }


def scaling_points(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each multi-device row against its one-device row: speed-up of steps per second and parallel efficiency."""
    single = {row["label"]: row for row in rows if row["devices"] == 1}
    points = []
    for row in rows:
        base = single.get(row["label"].rsplit(", ", 1)[0]) if row["devices"] > 1 else None
        if base and base["steps_per_s"] and row["steps_per_s"]:
            speedup = row["steps_per_s"] / base["steps_per_s"]
            points.append({"label": row["label"], "devices": row["devices"], "speedup": speedup,
                           "efficiency": speedup / row["devices"], "simulated": row["simulated"]})
    return points


def write_device_report(records: Sequence[dict[str, Any]], out_dir: Path, profile: str) -> Path:
    """Writes out_dir/index.md, index.html and verdict.json (for the reports' index); returns the index.md path."""
    if not records:
        raise ValueError("the device check has no records to report")
    rows = [summary(record) for record in records]
    title = f"Device check ({profile} profile)"
    frame = pd.DataFrame(records)
    frame["created_utc"] = pd.to_datetime(frame["created_utc"])
    provenance = {"commits": render.commits_text(frame), "dates": render.dates_text(frame)}
    text = _markdown(title, records, rows, scaling_points(rows), provenance)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "index.md").write_text(text, encoding="utf-8")
    (out_dir / "index.html").write_text(render.html_page(text, title), encoding="utf-8")
    verdict = {
        "name": out_dir.name, "title": title, "records": len(records), **provenance, "side_by_side": "",
        "verdicts": [{"line": _line(row)} for row in rows],
    }
    (out_dir / index.VERDICT_FILE).write_text(json.dumps(verdict, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_dir / "index.md"


_INTRO = (
    "Per SciML solver, one short training run as an ordinary case in its own process (`parity device-check`, "
    "`scripts/gpu-check`): its training steps per second, XLA's FLOP count of one step times that rate (achieved "
    "FLOP/s per device) against the device's peak, and the peak memory. The trainings are too short to converge; "
    "accuracy is not measured here."
)
_HEADER = (
    "| solver and problem | devices | status | steps | steps/s | GFLOP/step | TFLOP/s per device | % of FP32 peak "
    "| % of TF32 peak | peak device memory | peak host memory | compile |\n" + "| --- " * 12 + "|\n"
)
_NOTES = (
    "Peak device memory is JAX's allocator peak (`peak_bytes_in_use`), absent on CPUs; peak host memory is the "
    "case process's resident peak. Compile: XLA compilation of the training and evaluation programs."
)


def _markdown(title: str, records: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], scaling: Sequence[dict[str, Any]],
              provenance: dict[str, str]) -> str:
    first = records[0]
    fp32, tf32 = device_peaks(first.get("device_kind") or "")
    if fp32:
        peaks = f"peaks {fp32 / 1e12:g} TFLOP/s FP32" + (f", {tf32 / 1e12:g} TFLOP/s TF32 (dense)" if tf32 else "")
    else:
        peaks = "no peak FLOP/s on record for this device, so no share of it"
    machine = (
        f"Device: {first.get('device_kind', '?')} ({first.get('backend', '?')}, {first.get('devices_available', '?')} available); "
        f"{peaks}. Host {first.get('host', '?')}, {first.get('cpu_count', '?')} CPU cores; JAX "
        f"{(first.get('versions') or {}).get('jax', '?')}; git commit {provenance['commits']}; date {provenance['dates']}."
    )
    parts = [
        f"# {title}",
        _INTRO,
        machine,
        _HEADER + "\n".join(_table_row(row) for row in rows),
        _NOTES,
    ]
    failed = [row for row in rows if row["status"] != "ok"]
    if failed:
        parts.append("Not ok:\n\n" + "\n".join(f"- {row['label']}: {row['status']}: {row['message'][:300]}" for row in failed))
    if scaling:
        lines = [f"- {p['label']}: {p['speedup']:.2f}x the one-device steps/s on {p['devices']} devices, parallel efficiency "
                 f"{100 * p['efficiency']:.0f} %" + (" (XLA's simulated CPU devices sharing the same cores: a check of the "
                                                      "partitioned code, not a speed-up figure)" if p["simulated"] else "")
                 for p in scaling]
        parts.append("## Strong scaling\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _table_row(row: dict[str, Any]) -> str:
    cells = [
        row["label"], str(row["devices"]) + (" (simulated)" if row["simulated"] else ""), row["status"], _number(row["steps"], "{:d}"),
        _number(row["steps_per_s"], "{:.4g}"), _number(row["gflop_per_step"], "{:.3g}"), _number(row["tflops_per_device"], "{:.3g}"),
        _percent(row["fp32_share"]), _percent(row["tf32_share"]), _number(row["peak_device_mb"], "{:.0f} MB"),
        _number(row["peak_rss_mb"], "{:.0f} MB"), _number(row["compile_s"], "{:.1f} s"),
    ]
    return "| " + " | ".join(cells) + " |"


def _line(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['label']}: {row['status']}"
    share = f" ({_percent(row['fp32_share'])} of FP32 peak)" if row["fp32_share"] else ""
    memory = f", peak device memory {row['peak_device_mb']:.0f} MB" if row["peak_device_mb"] else ""
    flops = f", {row['tflops_per_device']:.3g} TFLOP/s{share}" if row["tflops_per_device"] else ""
    on = f" on {row['devices']} devices" if row["devices"] > 1 else ""
    return f"{row['label']}{on}: {row['steps_per_s']:.4g} steps/s{flops}{memory}"


def _number(value: Any, form: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return form.format(value)


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.2g} %"
