"""The short text summary of a run (bench/out/gpu.txt, also printed)."""

from __future__ import annotations

from typing import Any


def summary_text(results: dict[str, Any]) -> str:
    """The short text summary: goals with target, measured and status; then where the time goes."""
    env = results["environment"]
    head = env.get("gpu") or f"{env['cpu']} ({env['cpu_cores']} cores), no CUDA"
    sections = ", ".join(
        f"{k} {v.get('seconds', 0):.0f} s" + (" ERROR" if v.get("error") else "")
        for k, v in results["sections"].items()
    )
    lines = [
        f"bwot GPU check, mode {results['mode']}: {head}; torch {env['torch']}; {results['started']}",
        f"sections: {sections}; total {results['seconds']:.0f} s",
        "",
        f"{'goal':<62} {'target':<24} {'status':<24} measured",
    ]
    for g in results["goals"]:
        lines.append(f"{g['goal']:<62} {g['target']:<24} {g['status']:<24} {g['measured']}")
    for name, sec in results["sections"].items():
        if sec.get("error"):
            lines.append(f"\nsection {name} failed: {sec['error']}")
    metric = results["sections"].get("metric", {})
    for loss, r in metric.get("losses", {}).items():
        modes = ", ".join(
            f"{m} {v['steps_per_s']} steps/s" if "steps_per_s" in v else f"{m} error: {v.get('error')}"
            for m, v in r.items() if isinstance(v, dict)
        )  # fmt: skip
        lines.append(f"metric {loss}: {modes}")
    prof = metric.get("profile", {})
    for key in ("by_device_time", "by_host_time"):
        if key in prof:
            what = key.replace("_", " ")
            head = f"where the time goes: {prof.get('loss', 'ot')} step x {prof['steps']}, eager, ops {what}"
            lines += ["", head, prof[key]]
    feats = results["sections"].get("features", {}).get("backbones", {})
    for name, r in feats.items():
        lines.append(
            f"features {name} ({r['layer']}, amp {r['amp']}): pipeline {r['pipeline']} images/s; "
            f"bare forward {r['bare_forward']}; per-image loop {r['per_image_loop']}"
        )
    shared = results["sections"].get("shared", {})
    if "aggregate_steps_per_s" in shared:
        lines.append(f"losses trained at once on one device: {shared['steps_per_s']}, aggregate "
                     f"{shared['aggregate_steps_per_s']} steps/s")  # fmt: skip
    speed = results["sections"].get("render", {}).get("speed")
    if speed:
        lines.append(f"render 224 px views/s: {speed['views_per_s']} (mean faces {speed['mean_faces']})")
    return "\n".join(lines) + "\n"
