"""``scrub_hnsw_tails`` on a real embedded Chroma segment: ``length.bin``'s unused capacity is zeroed, nothing else.

hnswlib (chroma-core/hnswlib ``hnswalg.h``, ``initPersistentIndex``) writes
``length.bin`` as its whole ``malloc``-ed array of ``max_elements`` float32 norms,
so the slots past ``cur_element_count`` hold heap bytes: a forget test once found
its secret there. Here known bytes are planted in that tail; the scrub must zero
them, keep the norms of the elements in use, and leave the index loadable and
searchable in a fresh client.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import chromadb
from chromadb import Schema
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.api.types import HnswIndexConfig, VectorIndexConfig
from chromadb.config import Settings as ChromaSettings

from agentrag.memory.purge import _hnsw_used_end, scrub_hnsw_tails

PLANTED = b"ZX-LENGTH-TAIL-55120977"
NAME = "scrub-probe"
VECTORS = {f"v{i}": [float((i * 7 + j * 3) % 11 + 1) for j in range(8)] for i in range(6)}


def client(path: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False, is_persistent=True)
    )


def test_scrub_zeroes_the_unused_tail_of_length_bin_and_keeps_the_index(tmp_path: Path) -> None:
    root = tmp_path / "chroma"
    schema = Schema()  # sync_threshold 2: the segment's files are written now, not after 1000 adds
    schema.create_index(
        VectorIndexConfig(space="cosine", embedding_function=None, hnsw=HnswIndexConfig(batch_size=2, sync_threshold=2))
    )
    col = client(root).create_collection(NAME, schema=schema, embedding_function=None)
    col.add(ids=list(VECTORS), embeddings=list(VECTORS.values()), documents=[f"doc {k}" for k in VECTORS])
    assert col.query(query_embeddings=[VECTORS["v3"]], n_results=1)["ids"] == [["v3"]]

    [header] = root.glob("*/header.bin")
    length = header.with_name("length.bin")
    used_end = _hnsw_used_end(header, "length.bin")
    assert used_end == 4 * len(VECTORS), "the header counts every element added: one float32 norm each"
    size = length.stat().st_size
    assert size - used_end > 2 * len(PLANTED), "capacity (max_elements) exceeds the elements in use"
    used = length.read_bytes()[:used_end]
    norms = struct.unpack(f"<{len(VECTORS)}f", used)
    assert sorted(round(n, 4) for n in norms) == sorted(round(math.hypot(*v), 4) for v in VECTORS.values())

    with length.open("r+b") as f:  # heap garbage as hnswlib would have written it, right past the records in use
        f.seek(used_end)
        f.write(PLANTED)
        f.seek(size - len(PLANTED))
        f.write(PLANTED)

    assert scrub_hnsw_tails(root) >= 2 * len(PLANTED)
    after = length.read_bytes()
    assert len(after) == size, "the file keeps its capacity: hnswlib reads max_elements floats on load"
    assert after[:used_end] == used, "the norms of elements in use are untouched"
    assert after[used_end:] == bytes(size - used_end)
    assert scrub_hnsw_tails(root) == 0, "a clean tail is not rewritten"

    SharedSystemClient.clear_system_cache()  # a fresh Chroma loads the segment from these files
    again = client(root).get_collection(NAME, embedding_function=None)
    assert again.count() == len(VECTORS)
    for key, vector in VECTORS.items():
        assert again.query(query_embeddings=[vector], n_results=1)["ids"] == [[key]]
    got = again.get(ids=["v4"], include=["embeddings"])["embeddings"]
    assert [round(float(x), 3) for x in got[0]] == [round(x, 3) for x in VECTORS["v4"]]
    SharedSystemClient.clear_system_cache()
