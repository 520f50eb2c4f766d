"""The retrain flow's closing summary: a table of families and the translation's verdict.

Read from the files the run wrote (metrics/, gate/), so it shows what is on disk, null
metrics included.
"""

from __future__ import annotations

import json
from pathlib import Path

from genforge.layout import TRANSLATION, Layout


def summary(repo: str, families: list[str]) -> str:
    """Markdown table: family, FID, recall, coverage, verdict; the champion marked."""
    from genforge.evaluation.evaluate import num
    from genforge.registry.verdicts import verdict_text

    root = Path(repo)
    gate_path = Layout(root).gate_report
    gate = json.loads(gate_path.read_text()) if gate_path.is_file() else {}
    champion = (gate.get("champion") or {}).get("family")
    rows = [
        "| family | FID | recall | coverage | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for f in families:
        path = Layout(root).metrics(f)
        m = json.loads(path.read_text()) if path.is_file() else {}
        v = gate.get("families", {}).get(f, {})
        verdict = verdict_text(v)
        name = f"**{f}** (champion)" if f == champion else f
        cells = " | ".join(num(m.get(k), ".2f") for k in ("fid", "recall", "coverage"))
        rows.append(f"| {name} | {cells} | {verdict if v else 'not gated'} |")
    return "\n".join(rows + translation_lines(root))


def translation_lines(root: Path) -> list[str]:
    """The translation model under the table: both directions and its own verdict."""
    from genforge.evaluation.evaluate import num
    from genforge.registry.verdicts import verdict_text

    out = Layout(root)
    path, gate_path = out.metrics(TRANSLATION), out.translation_gate
    m = json.loads(path.read_text()) if path.is_file() else {}
    if not m.get("enabled"):
        return []
    gate = json.loads(gate_path.read_text()) if gate_path.is_file() else {}
    candidate = gate.get("candidate") or {}
    verdict = verdict_text(candidate) if candidate else "not gated"
    champion = gate.get("champion")
    lines = [
        "",
        f"translation ({TRANSLATION}, {gate.get('registered_model', m['name'])}): {verdict}",
    ]
    lines.append(f"  champion: v{champion['version']}" if champion else "  champion: none")
    for d, name in m["directions"].items():
        r = m[d]
        lines.append(
            f"  {name}: FID {num(r['fid'], '.2f')} ({num(r['fid_vs_identity'], '.2f')}x the "
            f"untranslated images'), content preservation {num(r['content_preservation'], '.3f')}"
        )
    return lines
