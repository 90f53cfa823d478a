import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.ml.artifacts import BaseModelCache, load_version, save_version
from training.ml.config import TrainConfig
from training.ml.loop import train
from training.ml.model import build_model, encode_items

REPO = Path(__file__).resolve().parents[3]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_lora_version_stores_the_adapter_only(lora_version_dir, tiny_model_dir):
    base_weights = (Path(tiny_model_dir) / "model.safetensors").stat().st_size
    adapter = lora_version_dir / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not list(lora_version_dir.rglob("model.safetensors"))
    assert _size(adapter) < base_weights / 5
    assert _size(lora_version_dir) < base_weights
    assert np.load(lora_version_dir / "scorer" / "item_embeddings.npy").dtype == np.float16


def test_minilm_lora_adapter_is_a_few_hundred_kilobytes(tmp_path):
    config = TrainConfig()  # the packaged MiniLM, rank 8 on query and value
    model = build_model(config)
    model.save_pretrained(tmp_path)
    adapter_size = (tmp_path / "adapter_model.safetensors").stat().st_size
    base_size = (Path(config.base_model) / "model.safetensors").stat().st_size
    assert 100_000 < adapter_size < 1_000_000
    assert adapter_size < base_size / 100


def test_a_saved_version_is_never_overwritten(lora_outcome, lora_version_dir):
    with pytest.raises(FileExistsError):
        save_version(lora_version_dir, **lora_outcome.version_parts())


def test_loading_in_a_fresh_process_gives_the_same_scores(lora_outcome, lora_version_dir):
    dataset = lora_outcome.dataset
    histories = [[dataset.catalog.item_ids[i] for i in history] for history in dataset.test.histories[:5]]
    texts = dataset.catalog.texts[:4]
    program = (
        "import json, sys\n"
        "from training.ml.artifacts import load_version\n"
        "request = json.load(sys.stdin)\n"
        "version = load_version(request['folder'])\n"
        "print(json.dumps({'scores': version.score(request['histories']).tolist(),\n"
        "                  'vectors': version.encode_texts(request['texts']).tolist()}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", program],
        input=json.dumps({"folder": str(lora_version_dir), "histories": histories, "texts": texts}),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    answer = json.loads(completed.stdout.strip().splitlines()[-1])

    in_process = lora_outcome.scorer([list(h) for h in dataset.test.histories[:5]])
    np.testing.assert_allclose(np.array(answer["scores"]), in_process, atol=1e-4)
    trained_vectors = encode_items(lora_outcome.training.model, lora_outcome.training.tokens, [0, 1, 2, 3])
    np.testing.assert_allclose(np.array(answer["vectors"]), trained_vectors, atol=1e-4)


def test_two_tenants_lora_versions_share_one_base_model(lora_outcome, lora_version_dir, tmp_path):
    other_config = lora_outcome.config.replace(seed=7, epochs=1)
    other = train(other_config, lora_outcome.dataset)
    other_dir = save_version(
        tmp_path / "other-tenant-v1",
        model=other.model,
        config=other_config,
        item_ids=lora_outcome.dataset.catalog.item_ids,
        scorer=lora_outcome.scorer,
        metrics={},
    )
    cache = BaseModelCache()
    first, second = load_version(lora_version_dir, cache), load_version(other_dir, cache)

    assert first.base_model is second.base_model
    assert len(cache) == 1
    before = {name: p.clone() for name, p in first.base_model.state_dict().items()}
    texts = ["dark roast coffee | coffee | Bean Co", "brie cheese | cheese | Creamery"]
    first_vectors, second_vectors = first.encode_texts(texts), second.encode_texts(texts)
    # Each version encodes with its own adapter...
    np.testing.assert_allclose(
        second_vectors, encode_items(other.model, _tokens(other.model, texts)), atol=1e-4
    )
    assert not np.allclose(first_vectors, second_vectors, atol=1e-3)
    # ...and the shared base is left as it was: no adapter was injected into it.
    after = first.base_model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert not any("lora" in name for name, _ in first.base_model.named_modules())


def test_full_fine_tuned_version_round_trips(lora_outcome, tmp_path):
    config = lora_outcome.config.replace(method="full", learning_rate=3e-4, epochs=1)
    result = train(config, lora_outcome.dataset)
    folder = save_version(
        tmp_path / "full-v1",
        model=result.model,
        config=config,
        item_ids=lora_outcome.dataset.catalog.item_ids,
        scorer=lora_outcome.scorer,
        metrics={"best_epoch": result.best_epoch},
    )
    version = load_version(folder, BaseModelCache())
    assert version.base_model is None
    assert "base_model_fingerprint" not in version.metadata  # it carries its own encoder
    assert version.metrics == {"best_epoch": result.best_epoch}
    assert version.config == config
    texts = lora_outcome.dataset.catalog.texts[:3]
    np.testing.assert_allclose(
        version.encode_texts(texts), encode_items(result.model, _tokens(result.model, texts)), atol=1e-5
    )


def test_scores_skip_item_ids_the_version_does_not_know(lora_version_dir):
    version = load_version(lora_version_dir, BaseModelCache())
    known = version.item_ids[0]
    np.testing.assert_allclose(version.score([[known, "launched-yesterday"]]), version.score([[known]]))
    assert version.score([[known]]).shape == (1, len(version.item_ids))


def _tokens(model, texts):
    from training.ml.model import ItemTokens

    return ItemTokens(texts, model.tokenizer, 16)


def test_one_versions_first_encoder_load_does_not_hold_up_anothers(lora_version_dir):
    import threading

    cache = BaseModelCache()
    loading, other = load_version(lora_version_dir, cache), load_version(lora_version_dir, cache)
    encoded = []
    with loading._encoder_lock:  # this version is busy loading its encoder (seconds, for a real one)
        worker = threading.Thread(target=lambda: encoded.append(other.encode_texts(["brie cheese"])))
        worker.start()
        worker.join(timeout=30)
    assert len(encoded) == 1 and encoded[0].shape[0] == 1


def _version_trained_on(base_folder: Path, lora_outcome, tmp_path) -> Path:
    """A LoRA version as a worker would save it with its base model at `base_folder`."""
    parts = lora_outcome.version_parts()
    parts["config"] = parts["config"].replace(base_model=str(base_folder))
    return save_version(tmp_path / "version", **parts)


def test_a_lora_version_records_its_base_models_fingerprint(lora_outcome, lora_version_dir, tiny_model_dir):
    from training.ml.artifacts import base_model_fingerprint

    metadata = json.loads((lora_version_dir / "metadata.json").read_text())
    assert metadata["base_model_fingerprint"] == base_model_fingerprint(tiny_model_dir)
    weights = Path(tiny_model_dir) / "model.safetensors"
    assert metadata["base_model_files"]["model.safetensors"] == weights.stat().st_size
    assert lora_outcome.base_identity["base_model_fingerprint"] == metadata["base_model_fingerprint"]


def test_a_base_model_replaced_in_place_gets_a_new_fingerprint(tiny_model_dir, tmp_path):
    import shutil

    from training.ml.artifacts import base_model_fingerprint

    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "tiny-bert"))
    before = base_model_fingerprint(folder)
    weights = folder / "model.safetensors"
    kept = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # other weights of the same size...
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(kept.st_atime_ns, kept.st_mtime_ns))  # ...with the old time kept, as `cp -p` does
    assert base_model_fingerprint(folder) != before


def test_a_lora_version_finds_its_base_model_in_another_folder_on_another_machine(
    lora_outcome, lora_version_dir, tiny_model_dir, tmp_path
):
    import shutil

    worker_base = Path(shutil.copytree(tiny_model_dir, tmp_path / "worker" / "tiny-bert"))
    folder = _version_trained_on(worker_base, lora_outcome, tmp_path)
    web_host_dir = tmp_path / "web-host-base-models"
    web_host_dir.mkdir()
    shutil.move(worker_base, web_host_dir / "tiny-bert")  # the web host keeps it elsewhere
    half_copied = tmp_path / "being-copied" / "tiny-bert"
    half_copied.mkdir(parents=True)
    shutil.copy(web_host_dir / "tiny-bert" / "config.json", half_copied)

    texts = ["dark roast coffee | coffee | Bean Co"]
    version = load_version(folder, BaseModelCache(), base_model_search=[half_copied.parent, web_host_dir])
    np.testing.assert_allclose(
        version.encode_texts(texts), load_version(lora_version_dir, BaseModelCache()).encode_texts(texts), atol=1e-5
    )
    assert version.base_model_path == str((web_host_dir / "tiny-bert").resolve())


def test_another_model_of_the_same_name_is_never_taken_for_the_base(lora_outcome, tiny_model_dir, tmp_path):
    import shutil

    from transformers import BertConfig, BertModel

    from training.ml.artifacts import BaseModelNotFound

    worker_base = Path(shutil.copytree(tiny_model_dir, tmp_path / "worker" / "tiny-bert"))
    folder = _version_trained_on(worker_base, lora_outcome, tmp_path)
    torch.manual_seed(1)  # the same architecture and tokenizer, other weights
    BertModel(BertConfig.from_pretrained(worker_base)).save_pretrained(worker_base)

    version = load_version(folder, BaseModelCache(), base_model_search=[tmp_path / "worker"])
    with pytest.raises(BaseModelNotFound, match="other models in: .*worker/tiny-bert"):
        version.encode_texts(["brie cheese"])


def test_the_packaged_base_model_is_found_where_this_machine_installed_it(
    lora_outcome, lora_version_dir, tiny_model_dir, tmp_path, monkeypatch
):
    import shutil

    from training.ml import artifacts

    worker_package = Path(shutil.copytree(tiny_model_dir, tmp_path / "worker-venv" / "model"))
    folder = _version_trained_on(worker_package, lora_outcome, tmp_path)
    shutil.rmtree(worker_package)
    this_package = shutil.copytree(tiny_model_dir, tmp_path / "web-venv" / "model")
    monkeypatch.setattr(artifacts, "default_base_model", lambda: str(this_package))

    texts = ["brie cheese | cheese | Creamery"]
    np.testing.assert_allclose(
        load_version(folder, BaseModelCache()).encode_texts(texts),
        load_version(lora_version_dir, BaseModelCache()).encode_texts(texts),
        atol=1e-5,
    )


def test_a_version_saved_before_fingerprints_uses_its_recorded_base(lora_version_dir, tiny_model_dir, tmp_path):
    import shutil

    folder = Path(shutil.copytree(lora_version_dir, tmp_path / "old-version"))
    metadata = json.loads((folder / "metadata.json").read_text())
    del metadata["base_model_fingerprint"]
    (folder / "metadata.json").write_text(json.dumps(metadata))
    version = load_version(folder, BaseModelCache())
    assert version.base_model_path == metadata["base_model"]
    assert version.encode_texts(["brie cheese"]).shape[0] == 1


def test_a_base_model_kept_under_its_organisations_folder_is_found(
    lora_outcome, lora_version_dir, tiny_model_dir, tmp_path
):
    import shutil

    worker_base = Path(shutil.copytree(tiny_model_dir, tmp_path / "worker" / "acme" / "tiny-bert"))
    folder = _version_trained_on(worker_base, lora_outcome, tmp_path)
    shutil.move(tmp_path / "worker" / "acme", tmp_path / "web-base-models" / "acme")

    version = load_version(folder, BaseModelCache(), base_model_search=[tmp_path / "web-base-models"])
    assert version.base_model_path == str((tmp_path / "web-base-models" / "acme" / "tiny-bert").resolve())


def test_a_folder_this_process_cannot_read_is_passed_over(lora_outcome, tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    from training.ml import artifacts

    worker_base = Path(shutil.copytree(tiny_model_dir, tmp_path / "worker" / "tiny-bert"))
    folder = _version_trained_on(worker_base, lora_outcome, tmp_path)
    readable = Path(shutil.copytree(tiny_model_dir, tmp_path / "readable" / "tiny-bert"))
    real_model_files = artifacts.model_files

    def model_files(candidate):
        if Path(candidate) == worker_base:  # say, under a home folder the web server cannot enter
            raise PermissionError(13, "Permission denied", str(candidate))
        return real_model_files(candidate)

    monkeypatch.setattr(artifacts, "model_files", model_files)
    version = load_version(folder, BaseModelCache(), base_model_search=[readable.parent])
    assert version.base_model_path == str(readable.resolve())

    version = load_version(folder, BaseModelCache(), base_model_search=[])
    with pytest.raises(artifacts.BaseModelNotFound, match="could not read: .*Permission denied"):
        version.encode_texts(["brie cheese"])
