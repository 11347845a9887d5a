"""The peers of the real-model benchmark: how each starts with a model file, and its request body.

Each peer runs from its own venv under bench/.venvs/ (bench/setup_venvs.sh)
through bench/peers.py's ``start``/``stop`` (first 200 = cold start; stop by
process group, then by venv); the servers are bench/servers/real_*.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import batch_probe
from bench.peers import HERE, VENVS, Peer
from bench.real_models_common import ARTIFACTS, BATCH_DIR, MODELS, extract_class, meta, model_path, template
from clipper_admin.local.redis_server import free_port

SERVERS = HERE / "servers"
PYTHON_PEERS = ["LitServe", "BentoML", "Ray Serve", "MLServer", "KServe"]
"""Python model servers: the 5x target is against the best of these."""
NATIVE_PEERS = ["Triton", "TorchServe"]
"""Servers with a native (C++, Java) frontend: the target is to be ahead of each."""


@dataclass
class RealPeer(Peer):
    """A peer serving one real model (``model``); ``style`` is its body format."""

    model: str = ""
    style: str = "plain"

    def command(self, port: int, workload: str, workdir: Path) -> tuple[list[str], Path]:
        py = str(self.venv / "bin" / "python")
        if self.name == "LitServe":
            return [py, str(SERVERS / "real_litserve.py"), str(port), self.model], SERVERS
        if self.name == "Ray Serve":
            return [py, str(SERVERS / "real_ray.py"), str(port), self.model], SERVERS
        if self.name == "BentoML":
            return [str(self.venv / "bin" / "bentoml"), "serve", "real_bentoml:RealModel", "--host", "127.0.0.1",
                    "--port", str(port)], SERVERS
        if self.name == "KServe":
            return [py, str(SERVERS / "real_kserve.py"), str(port), self.model], SERVERS
        if self.name == "Triton":
            return [py, str(SERVERS / "real_pytriton.py"), str(port), self.model], SERVERS
        if self.name == "MLServer":
            return self._mlserver(port, workdir)
        if self.name == "TorchServe":
            return self._torchserve(port, workdir)
        raise ValueError(self.name)

    def _mlserver(self, port: int, workdir: Path) -> tuple[list[str], Path]:
        shutil.rmtree(workdir, ignore_errors=True)
        (workdir / self.model).mkdir(parents=True)
        (workdir / "settings.json").write_text(json.dumps({
            "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "parallel_workers": 0,
            "host": "127.0.0.1"}))
        settings: dict[str, object] = {"name": self.model, "max_batch_size": 32, "max_batch_time": 0.005}
        if self.model in ("lr", "rf"):  # MLServer's own scikit-learn runtime, with a batch counter
            settings["implementation"] = "servers.real_mlserver.runtimes.CountingSKLearnModel"
            settings["parameters"] = {"uri": str(model_path(self.model))}
        else:
            settings["implementation"] = "servers.real_mlserver.runtimes.RealModel"
        (workdir / self.model / "model-settings.json").write_text(json.dumps(settings))
        return [str(self.venv / "bin" / "mlserver"), "start", str(workdir)], workdir

    def _torchserve(self, port: int, workdir: Path) -> tuple[list[str], Path]:
        shutil.rmtree(workdir, ignore_errors=True)
        store = workdir / "model-store"
        store.mkdir(parents=True)
        subprocess.run([str(self.venv / "bin" / "torch-model-archiver"), "--model-name", self.model, "--version", "1",
                        "--handler", str(SERVERS / "real_torchserve_handler.py"), "--export-path", str(store)],
                       check=True, capture_output=True, timeout=120)
        models = {self.model: {"1": {"defaultVersion": True, "marName": f"{self.model}.mar", "minWorkers": 1,
                                     "maxWorkers": 1, "batchSize": 32, "maxBatchDelay": 5, "responseTimeout": 60}}}
        cfg = workdir / "config.properties"
        cfg.write_text("\n".join([
            f"inference_address=http://127.0.0.1:{port}",
            f"management_address=http://127.0.0.1:{free_port()}",
            f"metrics_address=http://127.0.0.1:{free_port()}",
            "disable_token_authorization=true", "enable_model_api=true", "disable_system_metrics=true",
            "default_workers_per_model=1", f"model_store={store}", f"load_models={self.model}.mar",
            f"models={json.dumps(models)}", ""]))
        return [str(self.venv / "bin" / "torchserve"), "--start", "--foreground", "--ncs", "--disable-token-auth",
                "--model-store", str(store), "--ts-config", str(cfg)], workdir


def real_peers(model: str) -> list[RealPeer]:
    """Every peer that serves ``model`` (TorchServe: the PyTorch model only)."""
    row = meta()["rows"][model]

    def peer(name: str, venv: str, path: str, style: str, needs: str) -> RealPeer:
        return RealPeer(name, VENVS / venv, path, template(style, row), needs, model=model, style=style)

    peers = [
        peer("LitServe", "litserve", "/predict", "plain", "litserve"),
        peer("BentoML", "bentoml", "/predict", "nested", "bentoml"),
        peer("Ray Serve", "ray", "/predict", "plain", "serve"),
        peer("MLServer", "mlserver", f"/v2/models/{model}/infer", "v2", "mlserver"),
        peer("KServe", "kserve", f"/v1/models/{model}:predict", "v1", "python"),
        peer("Triton", "pytriton", f"/v2/models/{model}/infer", "v2", "python"),
    ]
    if model == "mlp":
        peers.append(peer("TorchServe", "torchserve", f"/predictions/{model}", "plain", "torchserve"))
    return peers


def all_peer_names() -> list[str]:
    return [*PYTHON_PEERS, *NATIVE_PEERS]


def installed(peer: RealPeer) -> str | None:
    """None when the peer's venv is ready (its stamp holds the current list), else why not."""
    why = peer.available()
    if why:
        return why
    if not (peer.venv / ".installed").exists():
        return f"{peer.venv.relative_to(HERE.parent)} has no .installed stamp: run bench/setup_venvs.sh"
    return None


def check(peer: RealPeer, url: str) -> None:
    """The check row (its own first pixel instead of a nonce) answers the model's own class."""
    info = meta()
    row = info["rows"][peer.model]
    body = peer.template.replace("NONCE", repr(float(row[0])))
    r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    try:
        got = extract_class(r.json())
    except ValueError:
        got = extract_class(r.text)
    if r.status_code != 200 or got != info["expected"][peer.model]:
        raise RuntimeError(f"{peer.name} {peer.model}: check row answered {r.status_code} {r.text[:300]!r}, "
                           f"expected class {info['expected'][peer.model]}")


def flush(peer: RealPeer, url: str) -> dict[int, int]:
    """The peer's batch table (its server writes it at most every 0.2 s, on a call)."""
    time.sleep(batch_probe.FLUSH_EVERY_S + 0.05)
    body = peer.template.replace("NONCE", f"{0.75 + time.time() % 1 * 1e-3:.9f}")
    requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    time.sleep(0.1)
    return batch_probe.read_counts(BATCH_DIR / peer.venv.name, peer.model)


def clear_batches(peer: RealPeer) -> None:
    shutil.rmtree(BATCH_DIR / peer.venv.name, ignore_errors=True)


__all__ = ["ARTIFACTS", "MODELS", "RealPeer", "real_peers", "check", "flush", "installed", "all_peer_names"]
