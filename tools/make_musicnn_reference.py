"""Make the musicnn reference fixtures (inputs + original-model outputs).

Run OUTSIDE the project venv, in a throwaway one with TensorFlow::

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu tf_keras librosa soundfile
    pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn
    unzip /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl -d /tmp/musicnn/wheel
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python tools/make_musicnn_reference.py \
        --wheel /tmp/musicnn/wheel --audio REAL_RECORDING.ogg [...]

What it does:

1. Builds log-mel patches (librosa mel, 16 kHz, n_fft 512, hop 256, 96 mels,
   ``log10(10000·mel + 1)`` in float32) from generated signals and from the
   given real recordings; stores them as float16 (``inputs.npy``, small) and
   uses exactly those float16 values, widened to float32, as the inputs below.
2. Runs the *original* musicnn graph (the wheel's own ``musicnn/models.py``,
   imported from the unpacked wheel, not copied) restored from each checkpoint.
3. Runs an independent NumPy forward pass written from TF1 layer semantics on
   the raw checkpoint arrays, and reports the largest difference between the
   two, so a fragile TF rebuild cannot silently produce a wrong reference.
4. Diagnoses the original extractor's float16 quirk: ``batch_data`` casts the
   mel power to float16 *before* ``10000·mel``, which overflows (to ``inf``)
   wherever the mel power exceeds 65504/10000 ≈ 6.55 — common in loud music.
   Those ``inf`` inputs are what broke earlier TF rebuilds of musicnn (its
   mean pooling propagates them; VGG's max pooling happens to hide them).

Writes ``inputs.npy`` and ``<MODEL>_{logits,probabilities,embedding}.npy`` plus
``reference.json`` (provenance, agreement figures) into ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
N_FRAMES = 187
MODELS = ("MSD_musicnn", "MSD_vgg", "MTT_musicnn", "MTT_vgg")
EPS = 1e-3


# ---------------------------------------------------------------- inputs
def generated_signals() -> dict[str, np.ndarray]:
    """Deterministic test signals, 3.2 s each at 16 kHz."""
    rng = np.random.default_rng(20191)
    t = np.arange(int(3.2 * SR)) / SR
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
    clicks = np.zeros_like(t)
    clicks[:: SR // 4] = 1.0
    drums = np.convolve(clicks, np.exp(-np.arange(800) / 80.0) * rng.standard_normal(800))[
        : t.size
    ]
    sweep = 0.5 * np.sin(2 * np.pi * (100 * t + 0.5 * 1500 * t**2 / t[-1]))
    return {
        "chord_drums": (chord + 0.5 * drums).astype(np.float32),
        "sweep": sweep.astype(np.float32),
        "noise": (0.05 * rng.standard_normal(t.size)).astype(np.float32),
    }


def logmel(audio: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(
        y=audio, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS
    ).T.astype(np.float32)
    return np.log10(10000.0 * mel + 1.0).astype(np.float32)


def float16_overflow_fraction(audio: np.ndarray) -> float:
    """Share of log-mel bins that the original float16 code turns into inf."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=audio, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS
    ).T.astype(np.float16)
    with np.errstate(over="ignore"):
        rep = np.log10(10000 * mel + 1)
    return float(np.isinf(rep).mean())


def build_inputs(audio_files: list[str]) -> tuple[np.ndarray, list[str], dict]:
    import librosa

    patches, names, diagnosis = [], [], {}
    for name, audio in generated_signals().items():
        patches.append(logmel(audio)[:N_FRAMES])
        names.append(f"generated:{name}")
    for path in audio_files:
        audio, _ = librosa.load(path, sr=SR, mono=True, offset=30.0, duration=7.0)
        rep = logmel(audio)
        for start in (0, N_FRAMES + 40):
            patches.append(rep[start : start + N_FRAMES])
            names.append(f"{Path(path).name}@{30.0 + start * HOP / SR:.2f}s")
        diagnosis[Path(path).name] = float16_overflow_fraction(audio)
    inputs = np.stack(patches).astype(np.float16)
    return inputs, names, diagnosis


# ------------------------------------------------------ original TF graph
def tf_forward(wheel: Path, model: str, x: np.ndarray) -> dict[str, np.ndarray]:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    sys.path.insert(0, str(wheel))
    import tensorflow as tf
    from musicnn import models  # the original code, from the unpacked wheel

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        ph = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        outs = models.define_model(ph, is_training, model, 50)
    logits = outs[0]
    embedding = outs[-1] if "musicnn" in model else tf.compat.v1.layers.flatten(outs[-1])
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, str(wheel / "musicnn" / model) + "/")
        lg, emb = sess.run([logits, embedding], {ph: x, is_training: False})
    return {"logits": lg, "embedding": emb}


# ------------------------------------------- independent NumPy forward pass
def _bn(x: np.ndarray, w: dict, name: str) -> np.ndarray:
    g, b = w[f"{name}/gamma"], w[f"{name}/beta"]
    m, v = w[f"{name}/moving_mean"], w[f"{name}/moving_variance"]
    return (x - m) / np.sqrt(v + EPS) * g + b


def _conv2d_nhwc(x: np.ndarray, k: np.ndarray, pad_t: tuple, pad_f: tuple) -> np.ndarray:
    """TF conv2d (cross-correlation, stride 1) with explicit zero padding."""
    x = np.pad(x, ((0, 0), pad_t, pad_f, (0, 0)))
    kh, kw = k.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    # win: [B, H', W', C, kh, kw]
    return np.einsum("bhwcij,ijco->bhwo", win, k, optimize=True)


def _maxpool(x: np.ndarray, size: tuple, stride: tuple) -> np.ndarray:
    win = np.lib.stride_tricks.sliding_window_view(x, size, axis=(1, 2))
    return win[:, :: stride[0], :: stride[1]].max(axis=(-2, -1))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _name(base: str, i: int) -> str:
    return base if i == 0 else f"{base}_{i}"


def numpy_musicnn(w: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    x = x.astype(np.float64)[..., None]
    x = _bn(x, w, "batch_normalization")
    branches = []
    for i in range(5):
        k = w[f"{_name('conv2d', i)}/kernel"].astype(np.float64)
        kh = k.shape[0]
        pad_t = (3, 3) if i < 2 else ((kh - 1) // 2, kh - 1 - (kh - 1) // 2)
        y = _relu(_conv2d_nhwc(x, k, pad_t, (0, 0)) + w[f"{_name('conv2d', i)}/bias"])
        y = _bn(y, w, _name("batch_normalization", i + 1))
        branches.append(y.max(axis=2))  # [B, T, C]
    front = np.concatenate(branches, axis=2)
    feats = [front]
    prev = front
    for j in range(3):
        k = w[f"conv2d_{5 + j}/kernel"].astype(np.float64)[:, :, 0, :]  # [7, in, out]
        padded = np.pad(prev, ((0, 0), (3, 3), (0, 0)))
        win = np.lib.stride_tricks.sliding_window_view(padded, 7, axis=1)  # [B,T,in,7]
        y = np.einsum("btci,ico->bto", win, k, optimize=True) + w[f"conv2d_{5 + j}/bias"]
        y = _bn(_relu(y), w, f"batch_normalization_{6 + j}")
        prev = y if j == 0 else y + prev
        feats.append(prev)
    mid = np.concatenate(feats, axis=2)
    pooled = np.stack([mid.max(axis=1), mid.mean(axis=1)], axis=2).reshape(len(x), -1)
    pooled = _bn(pooled, w, "batch_normalization_9")
    dense = _bn(_relu(pooled @ w["dense/kernel"] + w["dense/bias"]), w, "batch_normalization_10")
    return {"logits": dense @ w["dense_1/kernel"] + w["dense_1/bias"], "embedding": dense}


def numpy_vgg(w: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    y = _bn(x.astype(np.float64)[..., None], w, "batch_normalization")
    pools = [((4, 1), (2, 2))] + [((2, 2), (2, 2))] * 3 + [((4, 4), (4, 4))]
    for i, (size, stride) in enumerate(pools):
        k = w[f"{i + 1}CNN/kernel"].astype(np.float64)
        y = _relu(_conv2d_nhwc(y, k, (1, 1), (1, 1)) + w[f"{i + 1}CNN/bias"])
        y = _maxpool(_bn(y, w, f"batch_normalization_{i + 1}"), size, stride)
    flat = y.reshape(len(x), -1)
    return {"logits": flat @ w["dense/kernel"] + w["dense/bias"], "embedding": flat}


def read_weights(wheel: Path, model: str) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tagger_core.training.tf_checkpoint import read_checkpoint

    return read_checkpoint(str(wheel / "musicnn" / model) + "/")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="unpacked musicnn wheel")
    parser.add_argument("--audio", nargs="*", default=[], help="real recordings")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/musicnn"))
    parser.add_argument("--no-tf", action="store_true", help="NumPy reference only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    inputs, names, diagnosis = build_inputs(args.audio)
    x = inputs.astype(np.float32)
    np.save(args.out / "inputs.npy", inputs)
    report: dict = {
        "inputs": names,
        "input_dtype": "float16 (widened to float32 before every forward pass)",
        "float16_overflow_fraction_of_original_extractor": diagnosis,
        "models": {},
    }
    whl = sorted(args.wheel.parent.glob("musicnn-0.1.0-*.whl"))
    if whl:
        report["wheel_sha256"] = hashlib.sha256(whl[0].read_bytes()).hexdigest()
    for model in MODELS:
        weights = read_weights(args.wheel, model)
        ref_np = (numpy_musicnn if "musicnn" in model else numpy_vgg)(weights, x)
        entry = {"numpy_all_finite": bool(np.isfinite(ref_np["logits"]).all())}
        chosen = ref_np
        entry["source"] = "numpy"
        if not args.no_tf:
            ref_tf = tf_forward(args.wheel, model, x)
            finite = bool(np.isfinite(ref_tf["logits"]).all())
            entry["tf_all_finite"] = finite
            if finite:
                entry["max_abs_prob_diff_tf_vs_numpy"] = float(
                    np.abs(sigmoid(ref_tf["logits"]) - sigmoid(ref_np["logits"])).max()
                )
                entry["max_abs_logit_diff_tf_vs_numpy"] = float(
                    np.abs(ref_tf["logits"] - ref_np["logits"]).max()
                )
                chosen = ref_tf
                entry["source"] = "tensorflow (original graph)"
        np.save(args.out / f"{model}_logits.npy", chosen["logits"].astype(np.float32))
        np.save(
            args.out / f"{model}_probabilities.npy",
            sigmoid(chosen["logits"].astype(np.float64)).astype(np.float32),
        )
        np.save(args.out / f"{model}_embedding.npy", chosen["embedding"].astype(np.float32))
        report["models"][model] = entry
        print(model, entry, flush=True)
    (args.out / "reference.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
