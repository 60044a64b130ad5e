"""Time the original musicnn pipeline on files; run with a TensorFlow virtualenv's python.

Usage: ``python bench/musicnn_original.py MODEL[,MODEL…] FILE…`` prints JSON
``{"seconds": {model: s}, "patches": {model: n}, "total_s": s, "cpu_s_after_imports": s,
"audio_s": s}`` (``cpu_s_after_imports``: CPU time of this process, all threads, from
after ``librosa`` and ``musicnn.extractor`` (TensorFlow) are imported to the end).
Each file goes through musicnn 0.1.0's own ``extractor`` (``librosa.load`` at
16 kHz, librosa mel spectrogram, its TensorFlow graph), once per model, exactly
as a user of that package would run it. Imports nothing from this project.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str]) -> int:
    models = argv[0].split(",")
    files = argv[1:]
    import librosa
    from musicnn.extractor import extractor

    cpu0 = time.process_time()
    audio_s = sum(librosa.get_duration(path=f) for f in files)
    seconds = {}
    patches = {}
    started = time.perf_counter()
    for model in models:
        t0 = time.perf_counter()
        for f in files:
            taggram, _tags = extractor(
                f, model=model, input_length=3, input_overlap=False, extract_features=False
            )
            patches[model] = patches.get(model, 0) + int(taggram.shape[0])
        seconds[model] = time.perf_counter() - t0
    total = time.perf_counter() - started
    json.dump(
        {
            "seconds": seconds,
            "patches": patches,
            "total_s": total,
            "cpu_s_after_imports": time.process_time() - cpu0,
            "audio_s": audio_s,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
