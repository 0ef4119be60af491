"""Leads search: fusing a sketch's and its composites' distances, the
in-memory descriptor index, and evaluate's gallery with distractors."""

import json

import numpy as np
import pytest
from PIL import Image

from inversion import cards, evaluate, inference, leads

from .inversion_fixtures import generated_face, write_pairs, write_random_weights


def test_fuse_gives_one_distance_per_gallery_photo_for_any_number_of_probes():
    rng = np.random.default_rng(0)
    for kinds in (["sketch"], ["composite"], ["composite", "composite"], ["sketch", "composite", "composite"]):
        fused = leads.fuse(rng.uniform(0.3, 1.2, (len(kinds), 50)), kinds)
        assert fused.shape == (50,)
        assert np.isfinite(fused).all()


def test_a_single_probe_keeps_its_own_order():
    distances = np.array([[0.9, 0.4, 0.7, 0.2]])
    for kind in leads.KINDS:
        assert list(np.argsort(leads.fuse(distances, [kind]))) == [3, 1, 2, 0]


def test_the_photo_both_probes_find_near_wins_over_one_that_only_one_finds():
    # photo 0 is second-nearest for both; photo 1 nearest to the sketch and far from the composite
    sketch = [0.62, 0.60, 0.80, 0.85, 0.90]
    composite = [0.42, 0.70, 0.41, 0.55, 0.60]
    fused = leads.fuse(np.array([sketch, composite]), ["sketch", "composite"])
    assert int(np.argmin(fused)) == 0


def test_a_sketch_with_large_distances_still_counts_after_normalisation():
    # the sketch's distances are all large but it separates photo 2 clearly; the composite barely prefers photo 0
    sketch = [1.00, 1.00, 0.80, 1.00]
    composite = [0.50, 0.51, 0.52, 0.53]
    fused = leads.fuse(np.array([sketch, composite]), ["sketch", "composite"])
    assert int(np.argmin(fused)) == 2


def test_fuse_rejects_unknown_kinds_and_mismatched_probes():
    with pytest.raises(ValueError, match="unknown probe kinds"):
        leads.fuse(np.ones((1, 3)), ["photo"])
    with pytest.raises(ValueError, match="kinds for"):
        leads.fuse(np.ones((2, 3)), ["sketch"])


def test_fusion_is_recorded_by_name_and_version():
    assert {"name", "version", "description"} <= leads.FUSION.keys()
    assert leads.FUSION["name"] in leads.CANDIDATES


def test_every_candidate_fusion_prefers_a_photo_all_probes_agree_on():
    distances = np.array([[0.3, 0.9, 0.8, 0.7], [0.2, 0.6, 0.9, 0.8], [0.4, 0.5, 0.7, 0.9]])
    for name, fusion in leads.CANDIDATES.items():
        assert int(np.argmin(fusion(distances, ["sketch", "composite", "composite"]))) == 0, name


def test_index_search_returns_the_nearest_photos_first_with_each_probes_distance():
    rng = np.random.default_rng(1)
    vectors = rng.normal(scale=0.09, size=(200, 128)).astype(np.float32)  # dlib's descriptors have length ~1
    index = leads.DescriptorIndex()
    index.add(range(1000, 1200), vectors)
    probes = vectors[[7]] + 0.01
    hits = index.search(probes, ["sketch"], k=5)
    assert hits[0][0] == 1007
    fused = [distance for _, distance, _ in hits]
    assert fused == sorted(fused)
    assert hits[0][2] == pytest.approx([float(np.linalg.norm(probes[0] - vectors[7]))], abs=1e-6)


def test_index_add_replaces_an_existing_photo_and_remove_forgets_it():
    index = leads.DescriptorIndex(dim=3)
    index.add([1, 2, 3], np.eye(3))
    index.add([2], [[0.0, 0.0, 1.0]])  # photo 2 now looks like photo 3
    assert len(index) == 3
    nearest = index.search(np.array([[0.0, 0.0, 1.0]]), ["composite"], k=2)
    assert {photo_id for photo_id, _, _ in nearest} == {2, 3}
    index.remove([3, 99])
    assert len(index) == 2 and 3 not in index
    assert index.search(np.array([[0.0, 0.0, 1.0]]), ["composite"], k=1)[0][0] == 2
    ids, distances = index.distances(np.array([[1.0, 0.0, 0.0]]))
    assert sorted(ids.tolist()) == [1, 2] and distances.shape == (1, 2)


def test_an_empty_index_finds_nothing():
    index = leads.DescriptorIndex()
    assert len(index) == 0
    assert index.search(np.zeros((2, 128)), ["sketch", "composite"], k=10) == []
    index.add([5], np.ones((1, 128)))
    index.remove([5])
    assert index.search(np.zeros((1, 128)), ["sketch"], k=10) == []


def test_a_distractor_nearer_than_the_true_photo_pushes_its_rank_down():
    gallery = np.array([[1.0, 0, 0], [0, 1.0, 0], [0.9, 0.1, 0]])  # two pairs' photos, then a distractor
    probes = np.array([[0.92, 0.08, 0], [0, 1.0, 0]])
    scores, ranks = evaluate.identity_scores(probes, gallery, ["a", "b", "lfw-someone"])
    assert list(ranks) == [2, 1] and scores["rank1"] == 0.5


def test_evaluate_with_distractors_ranks_over_the_whole_gallery_and_adds_a_fused_block(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the distractors' descriptors are cached in .cache/ here
    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path / "weights")
    write_random_weights(tmp_path / "weights", "grayscale")
    inference.reset_models()
    write_pairs(tmp_path, 4)
    for i in range(3):
        (tmp_path / "distractors" / f"d{i}").mkdir(parents=True)
        Image.fromarray(generated_face(100 + i, size=48)).save(tmp_path / "distractors" / f"d{i}" / "a.png")
    out = tmp_path / "report.json"
    arguments = ["--style", "grayscale", "--photos", str(tmp_path / "photos"), "--sketches", str(tmp_path / "sketches")]
    arguments += ["--aligned", "--distractors", str(tmp_path / "distractors"), "--fusion-study", "--json", str(out)]
    evaluate.main(arguments)
    evaluate.main(arguments)  # the second run reads the distractors' descriptors from the cache
    inference.reset_models()

    report = json.loads(out.read_text())
    assert report["gallery"] == 7 and report["distractors"] == 3
    assert len(list((tmp_path / ".cache").glob("distractors-*.npz"))) == 1
    for block in ("composite", "sketch", "fused"):
        assert 0 <= report[block]["rank1"] <= report[block]["rank10"] == 1.0  # 7 photos < 10
    assert report["fused"]["fusion"] == leads.FUSION
    assert report["fusion_study"]["halves"] == {"choose": 2, "check": 2, "all": 4}
    assert report["fusion_study"]["fusions"].keys() == leads.CANDIDATES.keys()


def test_distractors_of_a_person_among_the_probes_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path / "weights")
    write_random_weights(tmp_path / "weights", "grayscale")
    inference.reset_models()
    write_pairs(tmp_path, 2)
    (tmp_path / "distractors" / "p0").mkdir(parents=True)
    Image.fromarray(generated_face(0, size=48)).save(tmp_path / "distractors" / "p0" / "b.png")
    with pytest.raises(SystemExit, match="among the probes"):
        evaluate.evaluate(
            "grayscale", tmp_path / "photos", tmp_path / "sketches", aligned=True, distractors=tmp_path / "distractors"
        )
    inference.reset_models()
