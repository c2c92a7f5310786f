"""Models round-trip through save/load files, pickle and joblib; bad files are refused clearly.

The reference for a round trip is the original model: the reloaded one must
give the same predictions (bit for bit) and, for the online subtractors, the
same masks on the frames that follow.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import gmmfast
from gmmfast import _persist


def _frames(n=12, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    frames = np.repeat(base[None], n, axis=0)
    for t in range(n):                       # a bright box moving right
        x = (2 * t) % 25
        frames[t, 5:12, x:x + 6] = 250
    return frames


def _fitted_models():
    X, _, _ = gmmfast.data.sample_mixture(4000, random_state=3)
    frames = _frames()
    models = [gmmfast.GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
              for ct in ("full", "tied", "diag", "spherical")]
    models.append(gmmfast.PixelGMM(2).fit(frames[:8]))
    mog = gmmfast.BackgroundSubtractorMOG2(history=50)
    mog.apply_many(frames[:8])
    rec = gmmfast.BackgroundSubtractor()
    rec.apply_many(frames[:8])
    knn = gmmfast.BackgroundSubtractorKNN(history=50, n_samples=3)
    knn.apply_many(frames[:8])
    rec_knn = gmmfast.BackgroundSubtractor(method="knn", history=50)
    rec_knn.apply_many(frames[:8])
    cut = gmmfast.GrabCut(max_iter=2).fit(frames[0], rect=(4, 3, 20, 12))
    return X, frames, models + [mog, rec, knn, rec_knn, cut]


def _same_behaviour(a, b, X, frames):
    if isinstance(a, gmmfast.GaussianMixture):
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
        np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
        assert a.lower_bound_ == b.lower_bound_ and a.n_iter_ == b.n_iter_
    elif isinstance(a, gmmfast.GrabCut):
        np.testing.assert_array_equal(a.mask_, b.mask_)
        stroke = np.zeros(a.mask_.shape, bool)
        stroke[8, 10:14] = True                     # refining continues the same way
        np.testing.assert_array_equal(a.refine(foreground=stroke).mask_, b.refine(foreground=stroke).mask_)
    elif isinstance(a, gmmfast.PixelGMM):
        for f in frames[8:]:
            np.testing.assert_array_equal(a.predict(f).mask, b.predict(f).mask)
    else:
        for f in frames[8:]:
            np.testing.assert_array_equal(a.apply(f), b.apply(f))
        np.testing.assert_array_equal(a.background_image(), b.background_image())


def test_save_load_pickle_and_joblib_round_trips(tmp_path):
    joblib = pytest.importorskip("joblib")
    X, frames, models = _fitted_models()
    for i, model in enumerate(models):
        path = tmp_path / f"m{i}.npz"
        model.save(path)
        copies = [type(model).load(path), pickle.loads(pickle.dumps(model))]
        joblib.dump(model, tmp_path / f"m{i}.joblib")
        copies.append(joblib.load(tmp_path / f"m{i}.joblib"))
        for copy in copies:
            assert type(copy) is type(model) and copy.get_params().keys() == model.get_params().keys()
            _same_behaviour(pickle.loads(pickle.dumps(model)), copy, X, frames)


def test_unfitted_models_round_trip_and_load_can_override_parameters(tmp_path):
    path = tmp_path / "gm.npz"
    gmmfast.GaussianMixture(4, covariance_type="diag", n_threads=2).save(path)
    back = gmmfast.GaussianMixture.load(path, n_threads=1)
    assert back.get_params()["n_components"] == 4 and back.n_threads == 1
    with pytest.raises(gmmfast.NotFittedError):
        back.predict(np.zeros((2, 3)))


def test_refuses_other_classes_future_versions_and_junk(tmp_path):
    X, _, models = _fitted_models()
    models[0].save(tmp_path / "gm.npz")
    with pytest.raises(ValueError, match="GaussianMixture, not a PixelGMM"):
        gmmfast.PixelGMM.load(tmp_path / "gm.npz")
    # a file from a newer gmmfast: its format number is above what we read
    with np.load(tmp_path / "gm.npz") as f:
        entries = {k: f[k] for k in f.files}
    meta = json.loads(str(entries["__meta__"]))
    meta["version"] = _persist.VERSION + 1
    entries["__meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **entries)
    with pytest.raises(ValueError, match="upgrade gmmfast"):
        gmmfast.GaussianMixture.load(tmp_path / "future.npz")
    (tmp_path / "notes.txt").write_text("hello")
    np.save(tmp_path / "array.npy", np.zeros(3))
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    data = (tmp_path / "gm.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    for junk in ("notes.txt", "array.npy", "other.npz", "cut.npz"):
        with pytest.raises(ValueError, match="model file"):
            gmmfast.GaussianMixture.load(tmp_path / junk)
    with pytest.raises(FileNotFoundError):
        gmmfast.GaussianMixture.load(tmp_path / "missing.npz")
    # a folder: named as one, on save (no temporary file name in the message) and on load
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="folder") as caught:
        models[0].save(tmp_path / "folder.npz")
    assert ".part" not in str(caught.value)
    with pytest.raises(IsADirectoryError, match="folder"):
        gmmfast.GaussianMixture.load(tmp_path / "folder.npz")


def test_a_model_file_never_unpickles(tmp_path):
    # an object array inside the archive would need pickle: loading refuses it
    np.savez(tmp_path / "evil.npz", __meta__=np.array([{"format": "gmmfast-model"}], dtype=object))
    with pytest.raises(ValueError, match="model file") as caught:
        gmmfast.GaussianMixture.load(tmp_path / "evil.npz")
    assert "allow_pickle" not in str(caught.value)     # NumPy's advice to unpickle is not passed on


def _entries(path):
    with np.load(path) as f:
        entries = {k: f[k] for k in f.files}
    return entries, json.loads(str(entries["__meta__"]))


def _write(path, entries, meta):
    entries["__meta__"] = np.array(json.dumps(meta))
    np.savez(path, **entries)


@pytest.mark.parametrize("target", ["gmmfast.io.write_image", "gmmfast.cli.main", "gmmfast.__main__.main",
                                    "gmmfast._persist.save", "gmmfast.GaussianMixture.__init__",
                                    "gmmfast._grabcut.ColourModel", "os.system", "gmmfast.nothing.here"])
@pytest.mark.parametrize("where", ["top", "nested", "parameter"])
def test_a_model_file_calls_nothing_but_estimator_classes(tmp_path, target, where):
    # a nested entry named any gmmfast callable and loading called it with the file's arguments:
    # gmmfast.io.write_image wrote a file, gmmfast.cli.main(argv=["--version"]) ended the process
    rec = gmmfast.BackgroundSubtractor()
    rec.apply_many(_frames()[:4])
    rec.save(tmp_path / "rec.npz")
    entries, meta = _entries(tmp_path / "rec.npz")
    victim = tmp_path / "written_by_load.png"
    call = {"class": target, "params": {"path": str(victim), "image": [[0, 255]], "argv": ["--version"]},
            "fitted": {}}
    if where == "top":
        meta.update(call)
    elif where == "nested":
        meta["fitted"]["model_"] = {"__estimator__": call}
    else:
        meta["params"]["history"] = {"__estimator__": call}
    _write(tmp_path / "evil.npz", entries, meta)
    with pytest.raises(ValueError, match="model file"):
        gmmfast.BackgroundSubtractor.load(tmp_path / "evil.npz")
    assert not victim.exists()


class _MyMixture(gmmfast.GaussianMixture):
    pass


def test_a_subclass_loads_its_own_files(tmp_path):
    # a user's subclass saved files that no load would read ("a class outside gmmfast")
    X, _, _ = gmmfast.data.sample_mixture(500, random_state=0)
    mine = _MyMixture(2, random_state=0).fit(X)
    mine.save(tmp_path / "mine.npz")
    back = _MyMixture.load(tmp_path / "mine.npz")
    assert type(back) is _MyMixture
    np.testing.assert_array_equal(back.predict_proba(X), mine.predict_proba(X))
    with pytest.raises(ValueError, match="_MyMixture.load"):
        gmmfast.GaussianMixture.load(tmp_path / "mine.npz")
    gmmfast.GaussianMixture(2).fit(X).save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="GaussianMixture, not a _MyMixture"):
        _MyMixture.load(tmp_path / "plain.npz")


def test_a_damaged_or_edited_file_is_a_value_error(tmp_path):
    X, _, models = _fitted_models()
    models[0].save(tmp_path / "gm.npz")
    data = bytearray((tmp_path / "gm.npz").read_bytes())
    for offset in range(60, len(data) - 200, max(1, (len(data) - 260) // 25)):
        damaged = data.copy()
        damaged[offset] ^= 0xFF               # np.savez stores without compression: a CRC-32 error on read
        (tmp_path / "bad.npz").write_bytes(bytes(damaged))
        try:
            back = gmmfast.GaussianMixture.load(tmp_path / "bad.npz")
        except ValueError as exc:
            assert "damaged" in str(exc) or "model file" in str(exc), exc
        else:                                  # a byte in a stretch the reader does not check
            assert np.isfinite(back.score_samples(X)).all()
    entries, meta = _entries(tmp_path / "gm.npz")
    for field, junk in (("class", 5), ("params", [1, 2]), ("fitted", "x")):      # AttributeError before
        _write(tmp_path / "junk.npz", dict(entries), {**meta, field: junk})
        with pytest.raises(ValueError, match="damaged"):
            gmmfast.GaussianMixture.load(tmp_path / "junk.npz")
        with pytest.raises(ValueError, match="damaged"):      # (with an override: TypeError before)
            gmmfast.GaussianMixture.load(tmp_path / "junk.npz", n_threads=1)
    meta["params"]["colour"] = "red"
    _write(tmp_path / "extra.npz", entries, meta)
    with pytest.raises(ValueError, match="does not take: colour"):
        gmmfast.GaussianMixture.load(tmp_path / "extra.npz")


def test_a_misspelt_override_is_the_callers_mistake(tmp_path):
    # the keyword is named as the caller's, as set_params names it (it was blamed on the file)
    gmmfast.GaussianMixture(2).save(tmp_path / "gm.npz")
    with pytest.raises(ValueError, match="Invalid parameter 'n_thread' for GaussianMixture.load"):
        gmmfast.GaussianMixture.load(tmp_path / "gm.npz", n_thread=1)


@pytest.mark.parametrize("cls, change", [("BackgroundSubtractorMOG2", dict(n_components=3)),
                                         ("BackgroundSubtractorKNN", dict(n_samples=3)),
                                         ("BackgroundSubtractor", dict(n_components=3))])
def test_an_override_the_learnt_state_cannot_take_is_answered_as_set_params(tmp_path, cls, change):
    # loading with it blamed the file ("the model file holds an inconsistent model state")
    clip = gmmfast.data.sample_clip(n_frames=12)[0]
    model = getattr(gmmfast, cls)()
    model.apply_many(clip)
    model.save(tmp_path / "m.npz")
    (name, value), = change.items()
    loaded = type(model).load(tmp_path / "m.npz", **change)
    assert getattr(loaded, name) == value
    with pytest.raises(ValueError, match=f"{name} changed from .* to {value} after the model learnt 12 frame"):
        loaded.apply(clip[0])
    fresh = loaded.reset().apply(clip[0])                     # reset: a model with the new value
    assert fresh.shape == clip.shape[1:3]


@pytest.mark.parametrize("cls, params, renamed", [
    ("BackgroundSubtractorMOG2", dict(n_components=3), {"n_components": "n_mixtures"}),
    ("BackgroundSubtractor", dict(detect_shadows=False), {"detect_shadows": "exclude_shadows"}),
    ("PixelGMM", dict(n_components=2, var_min=9.0), {"var_min": "min_var", "var_min_": "min_var_"})])
def test_a_file_saved_under_a_renamed_parameter_loads(tmp_path, cls, params, renamed):
    # MOG2's n_components was n_mixtures, BackgroundSubtractor's detect_shadows exclude_shadows,
    # PixelGMM's var_min (and var_min_) min_var: a file saved then holds the old names
    clip = gmmfast.data.sample_clip(n_frames=8)[0]
    model = getattr(gmmfast, cls)(**params)
    model.fit(clip) if cls == "PixelGMM" else model.apply_many(clip)
    model.save(tmp_path / "new.npz")
    entries, meta = _entries(tmp_path / "new.npz")
    for new, old in renamed.items():
        part = meta["fitted"] if new.endswith("_") else meta["params"]
        part[old] = part.pop(new)
    _write(tmp_path / "old.npz", entries, meta)
    loaded = type(model).load(tmp_path / "old.npz")
    assert {k: getattr(loaded, k) for k in renamed} == {k: getattr(model, k) for k in renamed}
    assert not any(hasattr(loaded, old) for old in renamed.values())
    if cls == "PixelGMM":
        np.testing.assert_array_equal(loaded.predict(clip[:2])[1], model.predict(clip[:2])[1])
    else:
        np.testing.assert_array_equal(loaded.apply(clip[0]), model.apply(clip[0]))


def test_unsaveable_parameters_are_named(tmp_path):
    gm = gmmfast.GaussianMixture(2, random_state=np.random.RandomState(0))
    with pytest.raises(ValueError, match="random_state"):
        gm.save(tmp_path / "gm.npz")
    assert not (tmp_path / "gm.npz").exists()


def test_an_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "gm.npz"
    X, _, models = _fitted_models()
    models[0].save(path)
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        models[1].save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["gm.npz"]     # no temporary file left


def test_a_copy_taken_while_another_thread_applies_frames_is_one_frame_s_model():
    # pickle and deepcopy read the arrays while the other thread's kernel wrote them: 41 of 41
    # pickles matched the model at no frame (a helper's walk); save() held the lock and was right
    import copy
    import threading

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (40, 240, 320, 3), dtype=np.uint8)
    live = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
    live.apply(frames[0])
    snapshots = []
    done = threading.Event()

    def run():
        for f in frames[1:]:
            live.apply(f)
        done.set()

    worker = threading.Thread(target=run)
    worker.start()
    while not done.is_set() and len(snapshots) < 12:
        snapshots.append(pickle.loads(pickle.dumps(live)) if len(snapshots) % 2 else copy.deepcopy(live))
    worker.join()
    assert snapshots
    for snap in snapshots:
        clean = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
        for f in frames[:snap.n_frames_]:
            clean.apply(f)
        np.testing.assert_array_equal(snap.state_["state"], clean.state_["state"])
        np.testing.assert_array_equal(snap.state_["nmodes"], clean.state_["nmodes"])


def test_models_memory_mapped_read_only_go_on_learning(tmp_path):
    # joblib.load(mmap_mode='r') -- and joblib.Parallel's large arguments -- give read-only arrays:
    # the streaming models and GrabCut's refine failed with Cython's "buffer source array is read-only"
    joblib = pytest.importorskip("joblib")
    X, frames, models = _fitted_models()
    # frames of 32 pixels and more: the recommended subtractor then holds a shake aligner, whose
    # arrays (in an object of its own) stayed read-only
    from gmmfast import _shake

    long_clip = _frames(n=8 + 2 * _shake._REFRESH)          # past the aligner's next refresh, which writes
    big = np.repeat(np.repeat(long_clip, 2, axis=1), 2, axis=2)
    steady = gmmfast.BackgroundSubtractor(n_threads=1)
    steady.apply_many(big[:8])
    assert steady.__dict__.get("_shake") is not None and steady._shake.max_shift > 0
    for i, (model, clip) in enumerate([(m, frames) for m in models] + [(steady, big)]):
        joblib.dump(model, tmp_path / f"m{i}.joblib")
        mapped = joblib.load(tmp_path / f"m{i}.joblib", mmap_mode="r")
        _same_behaviour(pickle.loads(pickle.dumps(model)), mapped, X, clip)


def _edited(tmp_path, model, name, edit):
    """``model`` saved, then the fitted attribute ``name`` passed through ``edit`` (None drops it)."""
    model.save(tmp_path / "m.npz")
    entries, meta = _entries(tmp_path / "m.npz")
    fitted = meta["fitted"]
    path, field = (name.split(".") + [None])[:2]
    ref = fitted[path]["__dict__"][field] if field else fitted[path]
    key = ref["__array__"]
    new = edit(entries[key])
    if new is None:
        if field:
            del fitted[path]["__dict__"][field]
        else:
            del fitted[path]
    else:
        entries[key] = new
    _write(tmp_path / "edited.npz", entries, meta)
    return tmp_path / "edited.npz"


@pytest.mark.parametrize("name, edit, words", [
    ("means_", lambda a: a[:, :1], "has shape"),
    ("means_", lambda a: a[:2], "shape"),
    ("weights_", lambda a: a * np.nan, "NaN"),
    ("weights_", lambda a: a * 2, "sum to 1"),
    ("precisions_cholesky_", lambda a: None, "lacks precisions_cholesky_"),
    ("precisions_cholesky_", lambda a: -a, "Cholesky"),
    ("covariances_", lambda a: a[..., :1], "covariances_ has shape"),
])
def test_an_edited_mixture_file_is_refused_at_load(tmp_path, name, edit, words):
    # these loaded, and failed at predict with "Buffer has wrong number of dimensions" or an
    # AttributeError -- or, with NaN weights, predicted all zeros and scored NaN without a word
    X, _, _ = gmmfast.data.sample_mixture(500, random_state=0)
    path = _edited(tmp_path, gmmfast.GaussianMixture(3, random_state=0).fit(X), name, edit)
    with pytest.raises(ValueError, match=words):
        gmmfast.GaussianMixture.load(path)


def test_an_edited_feature_count_is_refused_at_load(tmp_path):
    # it loaded, and the model said n_features_in_ == 5 while predicting with its 3-feature means
    X, _, _ = gmmfast.data.sample_mixture(500, random_state=0)
    gmmfast.GaussianMixture(3, random_state=0).fit(X).save(tmp_path / "gm.npz")
    entries, meta = _entries(tmp_path / "gm.npz")
    assert meta["fitted"]["n_features_in_"] == X.shape[1]
    meta["fitted"]["n_features_in_"] = 5
    _write(tmp_path / "edited.npz", entries, meta)
    with pytest.raises(ValueError, match=f"n_features_in_ is 5, but its means_ have {X.shape[1]} features"):
        gmmfast.GaussianMixture.load(tmp_path / "edited.npz")


def test_parameters_set_after_the_fit_are_saved_as_they_are(tmp_path):
    # load refused a file whose n_components had been set after the fit ("give load no other
    # n_components") though the user gave load nothing; scikit-learn keeps such a parameter until the
    # next fit, and so do save and load
    X, _, _ = gmmfast.data.sample_mixture(500, random_state=0)
    gm = gmmfast.GaussianMixture(3, random_state=0).fit(X)
    bic = gm.bic(X)
    gm.set_params(n_components=5)
    assert gm.bic(X) == bic                                       # bic counts the fitted K
    gm.save(tmp_path / "k.npz")
    back = gmmfast.GaussianMixture.load(tmp_path / "k.npz")
    assert back.n_components == 5 and back.means_.shape[0] == 3 and back.bic(X) == bic
    gm.set_params(n_components=3, covariance_type="diag")
    gm.save(tmp_path / "ct.npz")
    back = gmmfast.GaussianMixture.load(tmp_path / "ct.npz")
    for use in (lambda m: m.predict(X), lambda m: m.sample(3), lambda m: m.partial_fit(X)):
        with pytest.raises(ValueError, match="covariance_type is 'diag', but the model was fitted with another"):
            use(back)                          # sample() gave NaN samples, partial_fit NumPy's error


@pytest.mark.parametrize("name, edit", [("means_", lambda a: a[:, :, :1]), ("variances_", lambda a: -a),
                                        ("weights_", lambda a: a.astype(np.float64) * np.nan)])
def test_an_edited_pixel_gmm_file_is_refused_at_load(tmp_path, name, edit):
    # it loaded and failed at predict with NumPy's "cannot reshape" or Cython's dtype mismatch
    frames = _frames()
    path = _edited(tmp_path, gmmfast.PixelGMM(2).fit(frames[:8]), name, edit)
    with pytest.raises(ValueError, match="PixelGMM arrays"):
        gmmfast.PixelGMM.load(path)


@pytest.mark.parametrize("name, edit", [("foreground_model_.means", lambda a: a[:2]),
                                        ("background_model_.covariances", lambda a: a * np.inf),
                                        ("foreground_model_.weights", lambda a: -a)])
def test_an_edited_grabcut_file_is_refused_at_load(tmp_path, name, edit):
    image = _frames()[0]
    path = _edited(tmp_path, gmmfast.GrabCut(max_iter=2).fit(image, rect=(4, 3, 20, 12)), name, edit)
    with pytest.raises(ValueError, match="colour model"):
        gmmfast.GrabCut.load(path)


def test_a_file_with_a_parameter_under_both_names_is_refused(tmp_path):
    gmmfast.BackgroundSubtractorMOG2(n_components=3).save(tmp_path / "m.npz")
    entries, meta = _entries(tmp_path / "m.npz")
    meta["params"]["n_mixtures"] = 4                  # which one would win depended on the order
    _write(tmp_path / "both.npz", entries, meta)
    with pytest.raises(ValueError, match="both n_mixtures and its new name n_components: it is damaged"):
        gmmfast.BackgroundSubtractorMOG2.load(tmp_path / "both.npz")


def test_grabcut_load_overrides_reach_the_next_refine(tmp_path):
    # the engine was rebuilt from the file's parameters and kept them: load(p, n_threads=1, gamma=...) was
    # reported by get_params and ignored by refine()
    s = gmmfast.data.sample_image(120, 160)
    gmmfast.GrabCut(n_threads=2).fit(s.image, rect=s.rect).save(tmp_path / "gc.npz")
    same, smooth_free = gmmfast.GrabCut.load(tmp_path / "gc.npz"), gmmfast.GrabCut.load(tmp_path / "gc.npz", gamma=0.0)
    same.refine(max_iter=1)
    smooth_free.refine(max_iter=1)
    # no smoothing term: the cut follows the colour models pixel by pixel, a ragged edge
    assert (same.mask_ != smooth_free.mask_).sum() >= 10        # (33 here; the same cut when ignored)
    assert smooth_free._engine._params["gamma"] == 0.0
    one_thread = gmmfast.GrabCut.load(tmp_path / "gc.npz", n_threads=1)
    one_thread.refine(max_iter=1)
    np.testing.assert_array_equal(one_thread.mask_, same.mask_)      # threads do not change a cut
    assert one_thread._engine._params["n_threads"] == 1
    with pytest.raises(ValueError, match="n_components changed from 5 to 2 after the fit"):
        gmmfast.GrabCut.load(tmp_path / "gc.npz", n_components=2).refine()
