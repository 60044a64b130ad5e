from __future__ import annotations

import numpy as np
import pytest

from tagger_core.training.datasets import (
    DatasetError,
    detect_layout,
    fma_audio_path,
    read_dataset,
)

from .audio_datasets import csv_dataset, fma_dataset, folder_dataset, nsynth_dataset


def test_folder_per_class_with_and_without_split_folders(tmp_path):
    flat = read_dataset(folder_dataset(tmp_path / "flat", per_class=3))
    assert flat.layout == "folder" and flat.classes == ("High", "Low", "Noise")
    assert len(flat.items) == 9 and not flat.has_split and not flat.multi_label
    split = read_dataset(folder_dataset(tmp_path / "split", per_class=3, splits=True))
    assert split.has_split
    assert {len(v) for v in split.split_indices().values()} == {3}
    y = split.label_matrix()
    assert y.shape == (9, 3) and (y.sum(axis=1) == 1).all()


def test_csv_layout_multi_label_and_missing_files_skipped(tmp_path):
    path = csv_dataset(tmp_path, n=12)
    (tmp_path / "audio" / "5.wav").unlink()
    data = read_dataset(path)
    assert data.layout == "csv" and data.multi_label and data.skipped == 1
    assert len(data.items) == 11
    first = data.items[0]
    assert first.labels == ("Low", "Noise") and first.split == "train"
    assert data.label_matrix()[0].tolist() == [0.0, 1.0, 1.0]


def test_csv_without_the_columns_is_refused(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("file,genre\na.wav,Rock\n")
    with pytest.raises(DatasetError, match="'path' and 'labels'"):
        read_dataset(bad)


def test_fma_layout_reads_three_header_rows_subset_and_split(tmp_path):
    root = fma_dataset(tmp_path, n=12)
    assert detect_layout(root) == "fma"
    small = read_dataset(root)
    assert len(small.items) == 11  # the medium-only track is left out
    assert small.skipped == 1  # the track without a top genre
    assert small.items[0].path == fma_audio_path(root / "fma_small", 2)
    assert small.items[0].path.name == "000002.mp3"
    assert small.has_split
    assert set(small.classes) == {"Low", "High", "Noise"}
    medium = read_dataset(root, fma_subset="medium", audio_dir=root / "fma_small")
    assert len(medium.items) == 12
    with pytest.raises(DatasetError, match="subset"):
        read_dataset(root, fma_subset="tiny")


def test_nsynth_layout_splits_by_folder(tmp_path):
    root = nsynth_dataset(tmp_path, per_split=6)
    assert detect_layout(root) == "nsynth"
    data = read_dataset(root)
    assert data.classes == ("bass", "flute", "synth_lead")
    assert data.has_split
    assert [len(v) for v in data.split_indices().values()] == [6, 6, 6]
    one = read_dataset(root / "nsynth-test")
    assert len(one.items) == 6 and one.items[0].split == "test"
    assert np.all(one.label_matrix().sum(axis=1) == 1)


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no labelled audio"):
        read_dataset(tmp_path / "empty")
