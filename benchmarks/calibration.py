"""Can the metric tell, on each dataset? The calibration table and the default gate's verdicts.

For each dataset (the embedded digits and shapes, and a one-class folder of RGB photo
patches cut from scikit-learn's two sample photos, like a user's unlabeled images),
runs ingest -> prepare -> the featurizer stage at the project's default settings, then
prints every calibration reference's FID, its place on the dataset's scale and its
data-copying z, and the default gate's verdict on generators of known quality:
real held-out images, pixel-shuffled images, blurred training images and training
copies. Run by hand:

    .venv/bin/python benchmarks/calibration.py [--datasets digits shapes photos]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from genforge.config import GateConfig, load_params, validate
from genforge.data.ingest import ingest
from genforge.data.photos import photo_patches
from genforge.data.prepare import prepare
from genforge.evaluation.calibration import relative_metrics
from genforge.evaluation.featurizer import train_featurizer
from genforge.evaluation.reference import blurred, memoriser_images, reference_for, shuffled
from genforge.evaluation.scoring import load_judge
from genforge.registry.gate import judge as gate_judge

ROOT = Path(__file__).resolve().parents[1]


def data_section(name: str, tmp: Path) -> dict:
    if name == "photos":
        return {"source": "npz", "path": str(photo_patches(tmp / "photos.npz")), "channels": 3}
    if name == "shapes":
        return {"source": "shapes", "channels": 3}
    return {"source": "digits"}


def run(name: str, tmp: Path) -> None:
    raw = load_params(ROOT / "params.yaml").model_dump(mode="json")
    raw["data"] = {**raw["data"], "path": None, **data_section(name, tmp)}
    params = validate(raw)
    ingest(params.data, tmp / "raw")
    prepare(params.data, tmp / "raw", tmp / "prepared")
    start = time.perf_counter()
    m = train_featurizer(params, tmp / "prepared", tmp / "featurizer", tmp / "cache")
    print(f"\n## {name}: {m['objective']} features, {time.perf_counter() - start:.0f} s")
    judge = load_judge(params.evaluate, tmp / "prepared", tmp / "featurizer", tmp / "cache")
    refs, _ = reference_for(judge, params.evaluate.n_samples, params.evaluate.seed)
    print(
        f"{'reference':<11}{'FID':>9}{'scale':>8}{'prec/fl':>9}{'cov/fl':>8}{'copying':>9}{'n':>6}"
    )
    for k, r in refs.items():
        if r is None:
            print(f"{k:<11}{'(none)':>9}")
            continue
        rel = relative_metrics(r, refs)
        print(
            f"{k:<11}{r['fid']:>9.4g}{rel['fid_rel']:>8.3g}{rel['precision_rel']:>9.3g}"
            f"{rel['coverage_rel']:>8.3g}{r['copying'] or float('nan'):>9.3g}{r['n_samples']:>6}"
        )
    n = min(len(judge.train[0]), params.evaluate.n_samples)
    generators = {
        "real held-out": judge.test[0],
        "pixel-shuffled": shuffled(judge.test[0], seed=3),
        "blurred train": blurred(memoriser_images(judge, n, seed=3)[0]),
        "train copies": memoriser_images(judge, n, seed=3)[0],
    }
    for label, images in generators.items():
        scored = judge.score(images, None, seed=7).metrics
        v = gate_judge({**scored, **relative_metrics(scored, refs)}, GateConfig(), None)
        why = "; ".join(v.reasons[:2])
        print(f"  {label:<15} {'PASS' if v.passed else 'refused'}  {why}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "shapes", "photos"])
    args = ap.parse_args()
    for name in args.datasets:
        with tempfile.TemporaryDirectory() as tmp:
            run(name, Path(tmp))


if __name__ == "__main__":
    main()
