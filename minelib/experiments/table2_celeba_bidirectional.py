"""Table 2: ALI, ALICE and ALI+MINE on CelebA (64x64): reconstruction error, attribute accuracy, MS-SSIM (§4.3).

Same loop as Table 1 (:func:`minelib.bidirectional.train_bidirectional`) with the DCGAN-like networks of
:func:`minelib.bidirectional.celeba_networks`; every setting and its source is in ``docs/settings.md``. The
metrics are ours: the mean per-image L2 norm of ``x - G(F(x) + eps)`` in [-1, 1] (12,288 values), the *mean
attribute accuracy* of a 40-attribute classifier trained by the project, applied to the reconstructions against the
originals' ground-truth attributes (the paper does not define CelebA's "reconstruction accuracy"; this definition
is ours), and MS-SSIM of x against its reconstruction (torchmetrics, 4 scales, 7x7 window); plus the mean MS-SSIM
of random pairs of samples.

CelebA is never downloaded. When ``data_dir`` does not hold it, the run says so, writes the generated fixture
(:func:`minelib.celeba.write_fixture`) and runs the ``smoke`` settings on it, so every cell still executes:
:func:`ran_settings` makes that replacement explicit, and the result records the settings that ran and every
requested value they dropped. Those numbers are marked as the fixture's and no claim is judged on them.

Units of work: the attribute classifier, and one per model and seed (each trained alone). A model's unit returns
the codes ``F(x) + eps`` of the test images and its decoder's weights, which :func:`combine` decodes to score the
reconstructions with the classifier (the reconstructions themselves are 1 GB per model at the paper's size).
"""
from __future__ import annotations

import dataclasses
import functools
import sys
import tempfile

import numpy as np
import pandas as pd

from .. import celeba
from ..bidirectional import VARIANT_NAMES, celeba_networks, decode, encode, sample
from ..image_metrics import intra_class_ms_ssim, ms_ssim, reconstruction_error
from ..runtime import resolve_device
from . import _bidirectional as bi
from . import common
from .protocol import Unit, replicate_seeds
from .settings import check_profiles, keys, make, setting

NAME = "table2_celeba_bidirectional"
TITLE = "Table 2: CelebA reconstructions of ALI, ALICE and ALI+MINE (error, attribute accuracy, MS-SSIM)"
PAPER_CLAIM = ("On CelebA, ALI+MINE is best on all three metrics (error 36.11, accuracy 76.08%, MS-SSIM 0.99) and "
               "ALI beats ALICE here (ALI 53.75 / 57.49% / 0.81; ALICE 92.56 / 48.95% / 0.51).")
DATA_SOURCE = "aligned CelebA from data_dir (or the generated fixture when it is missing; recorded by each run)"
MODELS, KEYS = bi.MODELS, bi.KEYS
#: The paper's Table 2 (its "ALICE" row is put beside ALICE (A); ALICE (L2) has no paper row).
PAPER_TABLE = {"ALI": (53.75, 57.49, 0.81), "ALICE (L2)": (np.nan, np.nan, np.nan), "ALICE (A)": (92.56, 48.95, 0.51),
               "ALI+MINE": (36.11, 76.08, 0.99)}
MS_SSIM_64 = dict(image_shape=(3, 64, 64), kernel_size=7, betas=(0.0448, 0.2856, 0.3001, 0.2363))
FIXTURE_IMAGES = 60


@dataclasses.dataclass(frozen=True)
class Settings(bi.BidirectionalSettings):
    """Table 2's settings; the defaults are the paper profile."""

    seeds: int = setting(5, "DEF", "independent repetitions (each model and seed trained alone)", low=1)
    steps: int = setting(35_000, "ICML", "training iterations of every model", low=1)
    batch_size: int = setting(100, "ICML", "minibatch size", low=2)
    lr: float = setting(1e-4, "ICML", "Adam learning rate of every network", low=0.0, open_low=True)
    z_dim: int = setting(256, "ALI", "dimension of the code z (ALI's CelebA model)", low=1)
    ch: int = setting(64, "ICML", "channels of the first convolution of F, G, D and T (doubling to 8 ch)", low=1)
    head: int = setting(512, "DEF", "width of the discriminators' MLP head", low=1)
    data_dir: str | None = setting(None, "DEF", "folder holding img_align_celeba/, list_eval_partition.txt and "
                                   "list_attr_celeba.txt (None or incomplete: the generated fixture, smoke settings)")
    n_train: int | None = setting(None, "DEF", "training images, a seeded random subset (None: all 162,770)", low=1)
    n_test: int | None = setting(None, "DEF", "test images scored, a seeded random subset (None: all 19,962)", low=1)
    classifier_epochs: int = setting(5, "DEF", "training epochs of the 40-attribute classifier", low=1)
    classifier_ch: int = setting(32, "DEF", "channels of that classifier's first convolution", low=1)
    n_samples: int = setting(200, "DEF", "samples G(z) whose pairwise MS-SSIM is averaged", low=1)


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU, on the generated fixture (60 images): tiny networks; proves every cell runs.
    "smoke": dict(seeds=1, steps=4, lr=2e-4, batch_size=8, z_dim=16, ch=4, head=32, classifier_epochs=1,
                  classifier_ch=4, n_samples=16),
    # On real CelebA, on a GPU or a patient CPU: half-width networks, 2,000 iterations, 20k images.
    "quick": dict(seeds=1, steps=2_000, lr=2e-4, z_dim=128, ch=32, n_train=20_000, n_test=2_000,
                  classifier_epochs=2),
})
PAPER = {f"{c}_{KEYS[m]}": v for m, row in PAPER_TABLE.items() if m != "ALICE (L2)"
         for c, v in zip(("recon_error", "attr_acc_pct", "ms_ssim"), row)}


def data_status(data_dir) -> str:
    """A sentence on whether ``data_dir`` holds CelebA, and what to download when it does not."""
    miss = celeba.missing_files(data_dir)
    if not miss:
        return f"CelebA found in {data_dir}."
    return (f"CelebA is not available (data_dir={data_dir!r}; missing: {', '.join(miss)}). To run this table, "
            f"{celeba.DOWNLOAD_HINT}. Until then this notebook runs the smoke settings on a small GENERATED FIXTURE "
            f"in CelebA's formats: its numbers are not CelebA's and no claim is judged on them.")


def on_fixture(cfg: Settings) -> bool:
    """Whether ``cfg.data_dir`` lacks CelebA, so that the generated fixture stands in for it."""
    return bool(celeba.missing_files(cfg.data_dir))


def ran_settings(cfg: Settings) -> tuple[Settings, dict]:
    """The settings that run under ``cfg``, and ``{key: requested value}`` of every setting they drop.

    With CelebA in ``cfg.data_dir``: ``cfg`` itself, nothing dropped. Without it: the ``smoke`` settings (keeping
    ``cfg``'s models and data_dir), sized for the 60-image fixture, and every requested value that differs.
    """
    if not on_fixture(cfg):
        return cfg, {}
    ran = make(Settings, PROFILES, "smoke", variants=cfg.variants, data_dir=cfg.data_dir)
    want, got = cfg.asdict(), ran.asdict()
    return ran, {k: want[k] for k in keys(Settings) if want[k] != got[k]}


def units(cfg: Settings) -> list[Unit]:
    """The attribute classifier, then one unit per seed and model of the settings that run (seed by seed, models
    in ``variants`` order); each names the data it sees, so that a fixture's result is never reused for CelebA."""
    ran, _ = ran_settings(cfg)
    data = "fixture" if on_fixture(cfg) else "celeba"
    return [Unit("classifier", {"data": data})] + [
        Unit(f"{v}-seed{s}", {"variant": v, "replicate": s, "data": data})
        for s in range(ran.seeds) for v in ran.variants]


@functools.lru_cache(maxsize=1)
def _celeba(data_dir: str, n_train: int | None, n_test: int | None, seed: int) -> celeba.CelebAData:
    """CelebA read once per process for every unit that needs it (200k JPEGs take minutes); never modified."""
    return celeba.load_celeba(data_dir, n_train, n_test, seed=seed)


def _data(ran: Settings, fixture: bool, seed: int) -> celeba.CelebAData:
    """The data of the settings that run: CelebA from ``data_dir``, or the fixture written with ``seed``."""
    if not fixture:
        return _celeba(ran.data_dir, ran.n_train, ran.n_test, seed)
    with tempfile.TemporaryDirectory(prefix="celeba_fixture_") as tmp:
        return celeba.load_celeba(celeba.write_fixture(tmp, n=FIXTURE_IMAGES, seed=seed), ran.n_train, ran.n_test,
                                  seed=seed)


def _classifier(ran: Settings, data: celeba.CelebAData, device: str, seed: int) -> dict:
    """Train the attribute classifier; return its weights (CPU tensors), accuracy, the test attributes, 16 images."""
    clf, acc = celeba.train_attribute_classifier(data.x_train, data.a_train, data.x_test, data.a_test,
                                                 epochs=ran.classifier_epochs, ch=ran.classifier_ch, device=device,
                                                 seed=seed)
    return {"state": bi.cpu_state(clf), "device": str(resolve_device(device)), "acc": acc,
            "n_attrs": data.a_train.shape[1], "a_test": data.a_test, "x": celeba.to_unit_range(data.x_test[:16]),
            "data_source": data.source}


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """The classifier, or one model for one seed: its scores but the attribute accuracy, the codes ``F(x) + eps``
    of the test images and the decoder's weights (CPU tensors) that :func:`combine` scores with the classifier."""
    ran = ran_settings(cfg)[0]
    data = _data(ran, on_fixture(cfg), seed)
    if unit.key == "classifier":
        return _classifier(ran, data, device, seed)
    v, s = unit.params["variant"], unit.params["replicate"]
    run_seed, x_te = replicate_seeds(seed, ran.seeds)[s], celeba.to_unit_range(data.x_test)
    model = celeba_networks(v, z_dim=ran.z_dim, ch=ran.ch, head=ran.head, seed=run_seed)
    r = bi.train(ran, data.x_train, model, v, run_seed, device=device, progress=progress, chunk=min(50, ran.steps))
    codes = encode(r.model, x_te, noise=ran.enc_noise, seed=run_seed)
    rec, smp = decode(r.model, codes), sample(r.model, ran.n_samples, seed=run_seed)
    history, train_settings = bi.run_record(v, s, r)
    return {"row": {"model": VARIANT_NAMES[v], "seed": s, "recon_error": reconstruction_error(x_te, rec),
                    "ms_ssim": float(ms_ssim(x_te, rec, **MS_SSIM_64).mean()),
                    "sample_ms_ssim": intra_class_ms_ssim(smp, np.zeros(len(smp)), pairs_per_class=100,
                                                          seed=run_seed, **MS_SSIM_64), "seconds": r.seconds},
            "codes": codes, "decoder": bi.cpu_state(r.model.decoder), "device": str(next(r.model.parameters()).device),
            "grids": {"rec": rec[:16], "samples": smp[:16]}, "history": history, "settings": train_settings}


def _score(ran: Settings, part: dict, clf, a_test) -> dict:
    """A model's score row with the attribute accuracy of its reconstructions, decoded from its codes."""
    row, v = part["row"], KEYS[part["row"]["model"]]
    model = bi.rebuild(lambda: celeba_networks(v, z_dim=ran.z_dim, ch=ran.ch, head=ran.head), part["decoder"],
                       part["device"], part="decoder")
    acc = celeba.attribute_accuracy(clf, decode(model, part["codes"]), a_test)
    return {"model": row["model"], "seed": row["seed"], "recon_error": row["recon_error"], "attr_acc": acc,
            "ms_ssim": row["ms_ssim"], "sample_ms_ssim": row["sample_ms_ssim"], "seconds": row["seconds"]}


def _source(cfg: Settings, loaded: str, dropped: dict) -> str:
    """The record's data source: CelebA's as loaded, or the fixture's with the settings that ran instead."""
    if not on_fixture(cfg):
        return loaded
    note = ", ".join(f"{k}={v}" for k, v in dropped.items()) or "nothing"
    return (f"GENERATED FIXTURE (synthetic ellipses in CelebA's formats), NOT CelebA: {loaded}; ran the smoke "
            f"settings (requested profile {cfg.profile}; not run: {note})")


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Score every model with the classifier. Returns ``{"scores": DataFrame(model, seed, recon_error, attr_acc,
    ms_ssim, sample_ms_ssim, seconds), "classifier_acc": float (%), "grids": {"x": test images, model: {"rec",
    "samples"}} (first seed), "history": DataFrame, "settings": {..., "ran": what ran}, "data_source": str,
    "fixture": bool, "ran_settings": the Settings that ran, "dropped": {key: requested value not run}}``."""
    ran, dropped = ran_settings(cfg)
    fixture, c = on_fixture(cfg), parts["classifier"]
    if fixture:
        print(data_status(cfg.data_dir))
    clf = bi.rebuild(lambda: celeba.attribute_classifier(c["n_attrs"], ran.classifier_ch), c["state"], c["device"])
    ordered = [parts[u.key] for u in units(cfg)[1:]]
    grids = {"x": c["x"], **{p["row"]["model"]: p["grids"] for p in ordered if p["row"]["seed"] == 0}}
    ran_record = {"profile": ran.profile, "requested_profile": cfg.profile, "dropped": dropped, **ran.asdict()}
    return {"scores": pd.DataFrame([_score(ran, p, clf, c["a_test"]) for p in ordered]),
            "classifier_acc": c["acc"], "grids": grids, "fixture": fixture,
            "history": bi.history_frame([p["history"] for p in ordered]),
            "settings": {**{k: v for p in ordered for k, v in p["settings"].items()}, "ran": ran_record},
            "data_source": _source(cfg, c["data_source"], dropped), "ran_settings": ran, "dropped": dropped}


def summary(result: dict) -> pd.DataFrame:
    """Table 2: ours (mean and std over seeds) beside the paper's numbers, one row per model."""
    t = bi.table_summary(result, ("recon_error", "attr_acc", "ms_ssim", "sample_ms_ssim"), PAPER_TABLE,
                         ("paper_error", "paper_attr_acc", "paper_ms_ssim"))
    t.insert(0, "data", "fixture (not CelebA)" if result["fixture"] else "CelebA")
    return t.reset_index()


def metrics(result: dict) -> dict:
    """The record's metrics: whether the fixture stood in, per model the means of the table's scores, and the
    classifier's mean attribute accuracy."""
    return {"ran_on_fixture": bool(result["fixture"]), **bi.table_metrics(result, summary(result), {
        "recon_error": "recon_error_mean", "attr_acc_pct": "attr_acc_mean", "ms_ssim": "ms_ssim_mean",
        "sample_ms_ssim": "sample_ms_ssim_mean"}, "classifier_mean_attr_acc_pct")}


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    return bi.table_invariants(result, "attr_acc", 2 * np.sqrt(celeba.X_DIM), "one score row per model and seed: "
                               "error in [0, 2 sqrt(12288)], attribute accuracy in [0, 100] %, MS-SSIM in [0, 1]")


def claims(result: dict, profile: str) -> list[dict]:
    """MINE best on all three metrics; ALI beats ALICE. Not judged on the fixture."""
    from ..results import claim

    s = summary(result).set_index("model")
    texts = ("ALI+MINE is best of the models on error, attribute accuracy and MS-SSIM",
             "ALI beats ALICE (A) on all three metrics")
    if result["fixture"]:
        return bi.not_judged(texts, "not run: CelebA was not available; the numbers are the generated fixture's")
    if not {"ALI", "ALICE (A)", "ALI+MINE"} <= set(s.index):
        return bi.not_judged(texts, "not judged: needs ALI, ALICE (A) and ALI+MINE")
    e, a, m = s["recon_error_mean"], s["attr_acc_mean"], s["ms_ssim_mean"]
    others = [x for x in s.index if x != "ALI+MINE"]
    best = e["ALI+MINE"] <= e[others].min() and a["ALI+MINE"] >= a[others].max() and m["ALI+MINE"] >= m[others].max()
    ali = e["ALI"] < e["ALICE (A)"] and a["ALI"] > a["ALICE (A)"] and m["ALI"] > m["ALICE (A)"]
    detail = "; ".join(f"{x}: {e[x]:.2f} / {a[x]:.2f}% / {m[x]:.3f}" for x in s.index) + \
        f" (error / attribute accuracy / MS-SSIM; classifier {result['classifier_acc']:.2f}%)"
    j = lambda held: common.judged(profile, held)
    return [claim(texts[0], j(best), detail), claim(texts[1], j(ali), detail)]


def plot(result: dict):
    """Reconstruction grids (test images, then each model's reconstructions) and sample grids."""
    titles = {m: f"{m}: G(F(x)+eps)" for m in MODELS}
    return bi.plot_grids(result, (3, 64, 64), fill=1.0, rec_titles=titles,
                         x_title="test images x" + (" (FIXTURE)" if result["fixture"] else ""))


def explore(variant: str = "ali_mine", steps: int = 20, beta: float = 1.0, data_dir: str | None = None,
            seed: int = 0, device: str = "auto"):
    """One small model for the notebook's widget, on CelebA in ``data_dir`` (2,000 images) or else on the fixture
    (the smoke settings, as :func:`ran_settings` says): its reconstructions and samples."""
    cfg = make(Settings, PROFILES, "smoke", data_dir=data_dir, variants=[variant], steps=steps, beta=beta,
               n_train=2_000, n_test=200)
    from .protocol import run  # not a name of this module: exp.run would read as the old API

    return plot(run(sys.modules[__name__], cfg, device=device, seed=seed, progress=False))
